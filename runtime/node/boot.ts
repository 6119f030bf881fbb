import { isIPv4 } from 'node:net';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { DEFAULT_PORTS, EnvResult, NodeRole, parseEnv } from '../contract';
import type { Imds } from './imds';

/** A DNS host name (RFC 1123): labels of letters, digits and inner hyphens, the last one not all digits. */
const HOST_NAME =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*(?![0-9]+$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * The boot contract (issue 8): the only variables an instance's user data writes, into
 * /etc/rtc-ha/boot.env (the systemd unit's EnvironmentFile). None holds a secret value: the
 * runtime reads its settings and secrets itself, with the instance role.
 */
export const BOOT_ENV = {
  /** AWS region of the SSM parameter, the secrets and the stack. */
  RTC_BOOT_REGION: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as eu-west-1')
    .optional(),
  /**
   * SSM parameter whose value is lines `RTC_NAME=value` (the non-secret settings). Its presence
   * turns boot mode on; without it the node reads its environment as it always did.
   */
  RTC_BOOT_SETTINGS_PARAMETER: z.string().min(1).optional(),
  /** Comma-separated `RTC_VAR=<secret ARN>`: each variable gets that secret's current SecretString. */
  RTC_BOOT_SECRETS: z.string().optional(),
  /** Stack and logical id to `SignalResource` once ready (or on a configuration failure). */
  RTC_BOOT_SIGNAL_STACK: z.string().min(1).optional(),
  RTC_BOOT_SIGNAL_RESOURCE: z.string().min(1).optional(),
  /**
   * The address clients reach a media node by, when it is not the instance's public-ipv4: a pair
   * node's Elastic IP, which moves to whichever node is active. It becomes the media node's
   * RTC_PUBLIC_ADDRESS (Janus's 1:1 NAT mapping, TURN's external address).
   */
  RTC_BOOT_PUBLIC_ADDRESS: z
    .string()
    .refine(
      (address) => isIPv4(address) || HOST_NAME.test(address),
      'must be an IPv4 address or a host name such as rtc.example.com',
    )
    .optional(),
};

/** What boot mode needs, from BOOT_ENV. */
export interface BootConfig {
  readonly region: string;
  readonly settingsParameter: string;
  /** Variable name -> secret ARN. */
  readonly secrets: Readonly<Record<string, string>>;
  readonly signal?: { readonly stack: string; readonly resource: string };
  /** RTC_BOOT_PUBLIC_ADDRESS: a media node's public address instead of its public-ipv4. */
  readonly publicAddress?: string;
}

/** Variables the boot derives from instance metadata; settings and secrets may not set them. */
export const IDENTITY_VARS = [
  'RTC_NODE_ID',
  'RTC_INSTANCE_ID',
  'RTC_LISTEN_HOST',
  'RTC_ADVERTISE_ADDRESS',
  'RTC_PUBLIC_ADDRESS',
  'RTC_MEDIA_ICE_ADDRESS',
] as const;

/** Secrets whose AWSPREVIOUS stage is read too, into this variable (API secret rotation). */
const PREVIOUS_STAGE_VARS: Readonly<Record<string, string>> = { RTC_API_SECRET: 'RTC_API_SECRET_PREVIOUS' };

const VAR_NAME = /^RTC_[A-Z0-9_]+$/;

/** Boot mode's settings from `env`; `config` is undefined when boot mode is off. */
export function parseBootEnv(env: NodeJS.ProcessEnv): EnvResult<BootConfig | undefined> {
  const parsed = parseEnv(BOOT_ENV, env);
  if (!parsed.ok) return parsed;
  const vars = parsed.config;
  if (vars.RTC_BOOT_SETTINGS_PARAMETER === undefined) return { ok: true, config: undefined };
  const problems: string[] = [];
  if (vars.RTC_BOOT_REGION === undefined) problems.push('RTC_BOOT_REGION: required in boot mode');
  const secrets: Record<string, string> = {};
  for (const pair of (vars.RTC_BOOT_SECRETS ?? '').split(',').filter((p) => p.trim() !== '')) {
    const [name, arn] = splitOnce(pair.trim());
    if (!VAR_NAME.test(name) || !/^arn:[\w-]+:secretsmanager:/.test(arn ?? '')) {
      problems.push(`RTC_BOOT_SECRETS: "${pair.trim()}" is not RTC_NAME=<secret ARN>`);
    } else if (name in secrets) {
      problems.push(`RTC_BOOT_SECRETS: ${name} is listed twice`);
    } else {
      secrets[name] = arn!;
    }
  }
  const { RTC_BOOT_SIGNAL_STACK: stack, RTC_BOOT_SIGNAL_RESOURCE: resource } = vars;
  if ((stack === undefined) !== (resource === undefined)) {
    problems.push('RTC_BOOT_SIGNAL_STACK and RTC_BOOT_SIGNAL_RESOURCE: set both or neither');
  }
  if (problems.length) return { ok: false, problems };
  return {
    ok: true,
    config: {
      region: vars.RTC_BOOT_REGION!,
      settingsParameter: vars.RTC_BOOT_SETTINGS_PARAMETER,
      secrets,
      signal: stack && resource ? { stack, resource } : undefined,
      publicAddress: vars.RTC_BOOT_PUBLIC_ADDRESS,
    },
  };
}

/**
 * The settings parameter's value: one `RTC_NAME=value` a line (blank lines allowed; the value is
 * everything after the first `=`). Throws naming every malformed or repeated line.
 */
export function parseSettingsLines(text: string): Record<string, string> {
  const settings: Record<string, string> = {};
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const [name, value] = splitOnce(line);
    if (value === undefined || !VAR_NAME.test(name)) {
      problems.push(`line ${i + 1} "${line}" is not RTC_NAME=value`);
    } else if (name in settings) {
      problems.push(`line ${i + 1}: ${name} is set twice`);
    } else {
      settings[name] = value;
    }
  });
  if (problems.length) throw new Error(`settings: ${problems.join('; ')}`);
  return settings;
}

/** What instance metadata tells a node about itself. */
export interface InstanceFacts {
  readonly instanceId: string;
  readonly localIpv4: string;
  /** Media nodes only. */
  readonly publicIpv4?: string;
}

/**
 * The node's environment from the three boot sources, for the role's config parser: identity
 * from instance metadata, then settings, then secrets. A source that tries to set another's
 * variable is a problem, not an override. `publicAddress` (RTC_BOOT_PUBLIC_ADDRESS), when given,
 * is a media node's public address instead of its public-ipv4.
 */
export function assembleBootEnv(
  role: NodeRole,
  facts: InstanceFacts,
  settings: Readonly<Record<string, string>>,
  secrets: Readonly<Record<string, string>>,
  publicAddress?: string,
): EnvResult<Record<string, string>> {
  const problems: string[] = [];
  for (const name of IDENTITY_VARS) {
    if (name in settings) problems.push(`settings: ${name} comes from instance metadata, not the settings`);
    if (name in secrets) problems.push(`RTC_BOOT_SECRETS: ${name} comes from instance metadata`);
  }
  for (const name of Object.keys(secrets)) {
    if (name in settings) problems.push(`settings: ${name} is a secret (RTC_BOOT_SECRETS), not a setting`);
  }
  const mediaPublicAddress = publicAddress ?? facts.publicIpv4;
  if (role === 'media' && !mediaPublicAddress) {
    problems.push(
      'RTC_PUBLIC_ADDRESS: instance metadata has no public-ipv4 (media nodes need a public address; ' +
        'RTC_BOOT_PUBLIC_ADDRESS gives one)',
    );
  }
  if (problems.length) return { ok: false, problems };
  const port = settings.RTC_PORT || String(DEFAULT_PORTS[role]);
  return {
    ok: true,
    config: {
      ...settings,
      ...secrets,
      RTC_NODE_ID: facts.instanceId,
      RTC_INSTANCE_ID: facts.instanceId,
      RTC_LISTEN_HOST: '0.0.0.0',
      RTC_ADVERTISE_ADDRESS: `${facts.localIpv4}:${port}`,
      // Janus gathers ICE on the private address; the public one is its 1:1 NAT mapping.
      ...(role === 'media'
        ? { RTC_PUBLIC_ADDRESS: mediaPublicAddress, RTC_MEDIA_ICE_ADDRESS: facts.localIpv4 }
        : {}),
    },
  };
}

export interface BootClients {
  readonly ssm: SSMClient;
  readonly secretsManager: SecretsManagerClient;
  readonly imds: Imds;
}

/** SDK clients for `region`, with the SDK's default credentials and endpoint (AWS_ENDPOINT_URL). */
export function bootClients(region: string, imds: Imds): BootClients {
  return { ssm: new SSMClient({ region }), secretsManager: new SecretsManagerClient({ region }), imds };
}

/**
 * Reads the settings parameter, the secrets the role uses (`variables`; the media agent, for
 * one, never reads RTC_API_SECRET even when listed) and the instance metadata, and assembles
 * the node's environment. AWS or IMDS failures throw; a bad setting is a problem in the result.
 */
export async function resolveBootEnv(
  boot: BootConfig,
  role: NodeRole,
  variables: ReadonlySet<string>,
  clients: BootClients,
): Promise<EnvResult<Record<string, string>>> {
  const wanted = Object.entries(boot.secrets).filter(([name]) => variables.has(name));
  const [settingsText, secretValues, facts] = await Promise.all([
    readParameter(clients.ssm, boot.settingsParameter),
    Promise.all(wanted.map(([name, arn]) => readSecretStages(clients.secretsManager, name, arn))),
    instanceFacts(clients.imds, role === 'media' && boot.publicAddress === undefined),
  ]);
  let settings: Record<string, string>;
  try {
    settings = parseSettingsLines(settingsText);
  } catch (err) {
    return { ok: false, problems: [`${boot.settingsParameter}: ${(err as Error).message}`] };
  }
  return assembleBootEnv(role, facts, settings, Object.assign({}, ...secretValues), boot.publicAddress);
}

/**
 * How a boot retries reading its settings, secrets and identity while AWS or IMDS fail: credentials
 * not there yet, an instance profile or grant still propagating, throttling, a network blip. Each of
 * these would otherwise fail the boot, and a deployment with it. About 15 s in all, then the error.
 */
export const BOOT_READ_RETRY = { attempts: 5, baseDelayMs: 1_000, maxDelayMs: 8_000 } as const;

/**
 * {@link resolveBootEnv}, retried (BOOT_READ_RETRY, doubling delays) while it throws; a bad setting
 * is a problem in the result and is not retried. `onRetry` hears of each failed attempt.
 */
export async function readBootEnv(
  boot: BootConfig,
  role: NodeRole,
  variables: ReadonlySet<string>,
  clients: BootClients,
  onRetry: (error: Error, attempt: number, delayMs: number) => void,
  retry: { attempts: number; baseDelayMs: number; maxDelayMs: number } = BOOT_READ_RETRY,
): Promise<EnvResult<Record<string, string>>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await resolveBootEnv(boot, role, variables, clients);
    } catch (err) {
      if (attempt >= retry.attempts) throw err;
      const delayMs = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
      onRetry(err as Error, attempt, delayMs);
      await sleep(delayMs);
    }
  }
}

/** An `onRetry` for {@link readBootEnv} that tells stderr (the journal) what failed and when it tries again. */
export function reportBootRetry(program: string): (error: Error, attempt: number, delayMs: number) => void {
  return (error, attempt, delayMs) =>
    process.stderr.write(
      `${program}: reading the boot configuration failed (attempt ${attempt} of ${BOOT_READ_RETRY.attempts}): ` +
        `${error.message}; trying again in ${delayMs / 1000} s\n`,
    );
}

async function readParameter(ssm: SSMClient, name: string): Promise<string> {
  const { Parameter } = await ssm.send(new GetParameterCommand({ Name: name }));
  if (Parameter?.Value === undefined) throw new Error(`SSM parameter ${name} has no value`);
  return Parameter.Value;
}

async function readSecretStages(
  client: SecretsManagerClient,
  name: string,
  arn: string,
): Promise<Record<string, string>> {
  const current = await secretString(client, arn, 'AWSCURRENT');
  if (current === undefined) throw new Error(`${name}: secret ${arn} has no AWSCURRENT string value`);
  const previousVar = PREVIOUS_STAGE_VARS[name];
  const previous = previousVar ? await secretString(client, arn, 'AWSPREVIOUS') : undefined;
  return previous === undefined ? { [name]: current } : { [name]: current, [previousVar]: previous };
}

/** The stage's SecretString; undefined when the stage does not exist (never rotated). */
async function secretString(
  client: SecretsManagerClient,
  arn: string,
  stage: string,
): Promise<string | undefined> {
  try {
    const { SecretString } = await client.send(
      new GetSecretValueCommand({ SecretId: arn, VersionStage: stage }),
    );
    return SecretString;
  } catch (err) {
    if (stage !== 'AWSCURRENT' && (err as Error).name === 'ResourceNotFoundException') return undefined;
    throw err;
  }
}

async function instanceFacts(imds: Imds, withPublicIpv4: boolean): Promise<InstanceFacts> {
  const [instanceId, localIpv4, publicIpv4] = await Promise.all([
    imds.require('instance-id'),
    imds.require('local-ipv4'),
    withPublicIpv4 ? imds.get('public-ipv4') : undefined,
  ]);
  return { instanceId, localIpv4, publicIpv4 };
}

function splitOnce(text: string): [string, string | undefined] {
  const at = text.indexOf('=');
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}
