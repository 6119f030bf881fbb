import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EsbuildBundling } from '../../../constructs/node-software/esbuild-bundling';
import { installArguments } from '../../../constructs/node-software/node-release';
import type { NodeRole } from '../../../runtime/contract/registry';
import { LoggedChild, spawnLogged, tailOf } from '../../../local/child';
import { httpStatus } from '../../../local/node-process';
import { freePort, waitFor } from '../../../local/ports';
import { progress, Rootfs } from './rootfs';
import { AwsApiStandIn } from '../../support/aws-api';
import { ImdsStandIn, startImds } from '../../support/imds';
import { startBootAwsApi, startTlsRedis, TlsRedis } from './stand-ins';

const PROJECT = path.join(__dirname, '..', '..', '..');
export const INSTALL_SCRIPT = path.join(PROJECT, 'constructs', 'node-software', 'assets', 'rtc-ha-node.sh');
/** The log shipper's entry, bundled as log-shipper.js when the runtime has one. */
const LOG_SHIPPER_ENTRY = path.join(PROJECT, 'runtime', 'log-shipper', 'main.ts');
/** Where the test puts the script and the app inside the root file system. */
const STAGING = '/root/rtc-ha-image';
export const UNIT_DIR = '/etc/systemd/system';

/** The role's app directory, as the image gets it: the project's esbuild bundles. */
export function buildApp(role: NodeRole, dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const entries: Record<string, string> = { 'main.js': path.join(PROJECT, 'runtime', role, 'main.ts') };
  if (fs.existsSync(LOG_SHIPPER_ENTRY)) entries['log-shipper.js'] = LOG_SHIPPER_ENTRY;
  new EsbuildBundling(entries, PROJECT).tryBundle(dir);
  return Object.keys(entries);
}

/** `chroot ROOT bash rtc-ha-node.sh install <installArguments>`: what Image Builder runs. */
export function installRole(rootfs: Rootfs, role: NodeRole): void {
  const app = `${STAGING}/app`;
  const files = buildApp(role, rootfs.at(app));
  fs.copyFileSync(INSTALL_SCRIPT, rootfs.at(`${STAGING}/rtc-ha-node.sh`));
  progress(`${role}: installing (${files.join(', ')}) with apt-get and Node.js from the npm registry`);
  rootfs.chroot(['bash', `${STAGING}/rtc-ha-node.sh`, ...installArguments(role, app)]);
}

/** `rtc-ha-node configure`, as user data runs it at boot (the installed copy of the script). */
export function configureRole(
  rootfs: Rootfs,
  settings: Readonly<Record<string, string>>,
  stopTimeout = 40,
): string {
  const sets = Object.entries(settings).flatMap(([name, value]) => ['--set', `${name}=${value}`]);
  return rootfs.chroot([
    '/opt/rtc-ha/bin/rtc-ha-node',
    'configure',
    ...sets,
    '--stop-timeout',
    String(stopTimeout),
  ]);
}

/** What the test takes from an installed unit: exactly what systemd would run. */
export interface UnitCommand {
  readonly execStart: string[];
  readonly user: string;
  readonly environmentFile: string;
  /** `RuntimeDirectory=` and its mode, which systemd makes under /run for the unit's user. */
  readonly runtimeDirectory?: { readonly name: string; readonly mode: number };
}

/** The `[Service]` keys of a unit file (the last one wins, as for systemd's single-value keys). */
export function serviceKeys(unitText: string): Record<string, string> {
  const keys: Record<string, string> = {};
  let section = '';
  for (const line of unitText.split('\n')) {
    const header = /^\[(.+)\]\s*$/.exec(line);
    if (header) section = header[1];
    const pair = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (section === 'Service' && pair) keys[pair[1]] = pair[2];
  }
  return keys;
}

export function readUnit(rootfs: Rootfs, unit: string): UnitCommand {
  const keys = serviceKeys(fs.readFileSync(rootfs.at(`${UNIT_DIR}/${unit}`), 'utf8'));
  const missing = ['ExecStart', 'User', 'EnvironmentFile'].filter((k) => !keys[k]);
  if (missing.length) throw new Error(`${unit} has no ${missing.join(', ')}`);
  return {
    execStart: keys.ExecStart.split(/\s+/),
    user: keys.User,
    environmentFile: keys.EnvironmentFile,
    runtimeDirectory: keys.RuntimeDirectory
      ? { name: keys.RuntimeDirectory, mode: parseInt(keys.RuntimeDirectoryMode ?? '0755', 8) }
      : undefined,
  };
}

/** What systemd does for `RuntimeDirectory=` before it starts the unit: a fresh /run/NAME of its user's. */
function makeRuntimeDirectory(rootfs: Rootfs, command: UnitCommand): void {
  if (!command.runtimeDirectory) return;
  const dir = `/run/${command.runtimeDirectory.name}`;
  fs.rmSync(rootfs.at(dir), { recursive: true, force: true });
  rootfs.chroot([
    'install',
    '-d',
    '-m',
    command.runtimeDirectory.mode.toString(8),
    '-o',
    command.user,
    '-g',
    command.user,
    dir,
  ]);
}

/** `NAME=value` lines, as systemd's EnvironmentFile reads the ones the script writes. */
export function readEnvironmentFile(rootfs: Rootfs, file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of fs.readFileSync(rootfs.at(file), 'utf8').split('\n')) {
    if (line.trim() === '' || /^[#;]/.test(line)) continue;
    const at = line.indexOf('=');
    env[line.slice(0, at)] = line.slice(at + 1);
  }
  return env;
}

/** The AWS side a booting node talks to, on loopback: IMDS, SSM + Secrets Manager + CloudFormation, ElastiCache. */
export interface BootWorld {
  readonly redis: TlsRedis;
  /** Every AWS API call the nodes made, e.g. their SignalResource. */
  readonly aws: AwsApiStandIn;
  /** boot.env settings for `role` (RTC_BOOT_*), as the CDK's user data would pass them. */
  bootSettings(role: NodeRole): Record<string, string>;
  /** Stand-in redirections the unit's process gets on top of its EnvironmentFile. */
  standInEnv(role: NodeRole, caInside: string): Record<string, string>;
  /** The port `role`'s settings tell it to listen on. */
  port(role: NodeRole): number;
  /** The instance id IMDS gives `role`'s node. */
  instanceId(role: NodeRole): string;
  /** The API secret's stages: rotated once, so a master takes both. */
  readonly apiSecret: { readonly current: string; readonly previous: string };
  /** What RTC_BOOT_SIGNAL_STACK / RTC_BOOT_SIGNAL_RESOURCE name for `role`. */
  signalTarget(role: NodeRole): { readonly stack: string; readonly resource: string };
  readonly publicIpv4: string;
  close(): Promise<void>;
}

const REGION = 'eu-west-1';
/** Where MediaFleet tells the agent to write Janus's config: inside the unit's RuntimeDirectory. */
const JANUS_CONFIG_DIR = '/run/rtc-ha/janus';
/** The PATH systemd gives every unit. */
const SYSTEMD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin';

/** A non-loopback IPv4 address of this machine (the chroot shares its network). */
function hostIpv4(): string {
  const address = Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (!address) throw new Error('the media node image test needs a non-loopback IPv4 address for Janus');
  return address;
}
const SECRET_ARN = (name: string) => `arn:aws:secretsmanager:${REGION}:123456789012:secret:${name}`;
const INSTANCE_IDS: Record<NodeRole, string> = {
  master: 'i-0000000000000master',
  media: 'i-00000000000000media',
};

/** Starts the stand-ins and the TLS Redis, with settings and secrets for both roles. */
export async function startBootWorld(): Promise<BootWorld> {
  const redis = await startTlsRedis(`redis-token-${process.pid}`);
  const ports = { master: await freePort(), media: await freePort() };
  const publicIpv4 = '203.0.113.7';
  const apiSecret = { current: 'api-secret-of-the-image-test', previous: 'api-secret-before-the-rotation' };
  const settings = (role: NodeRole) =>
    [
      `RTC_REDIS_URL=rediss://127.0.0.1:${redis.port}`,
      `RTC_PORT=${ports[role]}`,
      'RTC_KEY_PREFIX=imagetest',
      // As MediaFleet sets them: Janus on, its config in the unit's RuntimeDirectory.
      ...(role === 'media' ? ['RTC_JANUS=on', `RTC_JANUS_CONFIG_DIR=${JANUS_CONFIG_DIR}`] : []),
    ].join('\n');
  const aws = await startBootAwsApi(
    { '/rtc-ha/master': settings('master'), '/rtc-ha/media': settings('media') },
    {
      [SECRET_ARN('redis-auth')]: { current: redis.authToken },
      [SECRET_ARN('api')]: apiSecret,
      [SECRET_ARN('media-control')]: { current: 'media-control-secret-of-the-image-test' },
    },
  );
  const imds: Record<NodeRole, ImdsStandIn> = {
    master: await startImds({ 'instance-id': INSTANCE_IDS.master, 'local-ipv4': '127.0.0.1' }),
    // Janus refuses to gather ICE on loopback: the media node's private address is the host's own.
    media: await startImds({
      'instance-id': INSTANCE_IDS.media,
      'local-ipv4': hostIpv4(),
      'public-ipv4': publicIpv4,
    }),
  };
  const signalTarget = (role: NodeRole) => ({
    stack: 'RtcHaImageTest',
    resource: role === 'master' ? 'MastersAsg' : 'MediaAsg',
  });
  return {
    redis,
    aws,
    publicIpv4,
    apiSecret,
    signalTarget,
    port: (role) => ports[role],
    instanceId: (role) => INSTANCE_IDS[role],
    bootSettings: (role) => ({
      RTC_BOOT_REGION: REGION,
      RTC_BOOT_SETTINGS_PARAMETER: `/rtc-ha/${role}`,
      RTC_BOOT_SECRETS: [
        `RTC_REDIS_AUTH_TOKEN=${SECRET_ARN('redis-auth')}`,
        `RTC_MEDIA_CONTROL_SECRET=${SECRET_ARN('media-control')}`,
        ...(role === 'master' ? [`RTC_API_SECRET=${SECRET_ARN('api')}`] : []),
      ].join(','),
      RTC_BOOT_SIGNAL_STACK: signalTarget(role).stack,
      RTC_BOOT_SIGNAL_RESOURCE: signalTarget(role).resource,
    }),
    standInEnv: (role, caInside) => ({
      PATH: SYSTEMD_PATH,
      AWS_EC2_METADATA_SERVICE_ENDPOINT: imds[role].endpoint,
      AWS_ENDPOINT_URL: aws.endpoint,
      AWS_ACCESS_KEY_ID: 'AKIAIMAGETEST',
      AWS_SECRET_ACCESS_KEY: 'image-test-dummy',
      NODE_EXTRA_CA_CERTS: caInside,
    }),
    close: async () => {
      await Promise.all([aws.close(), imds.master.close(), imds.media.close(), redis.stop()]);
    },
  };
}

/** A unit's command running in the root file system, as its User, with its EnvironmentFile. */
export interface StartedUnit {
  readonly child: LoggedChild;
  readonly command: UnitCommand;
  /** Exactly the environment it got. */
  readonly env: Record<string, string>;
  /** Milliseconds from spawn to GET /ready = 200. */
  readonly readyMs: number;
}

/**
 * Runs the installed unit's ExecStart through `chroot --userspec=USER:USER`, with the EnvironmentFile's
 * variables plus only the stand-in redirections, and waits for GET /ready = 200.
 */
export async function startInstalledUnit(
  rootfs: Rootfs,
  role: NodeRole,
  world: BootWorld,
  readyTimeoutMs = 30_000,
): Promise<StartedUnit> {
  const command = readUnit(rootfs, 'rtc-ha.service');
  const caInside = '/etc/rtc-ha-test/redis-ca.crt';
  fs.mkdirSync(rootfs.at(path.dirname(caInside)), { recursive: true });
  fs.copyFileSync(world.redis.caFile, rootfs.at(caInside));
  fs.chmodSync(rootfs.at(caInside), 0o644);
  const env = {
    ...readEnvironmentFile(rootfs, command.environmentFile),
    ...world.standInEnv(role, caInside),
  };
  makeRuntimeDirectory(rootfs, command);
  const logFile = path.join(os.tmpdir(), `rtc-ha-image-${role}-${process.pid}.log`);
  fs.writeFileSync(logFile, '');
  const start = Date.now();
  const child = spawnLogged(
    role,
    '/usr/sbin/chroot',
    [`--userspec=${command.user}:${command.user}`, rootfs.dir, ...command.execStart],
    logFile,
    env,
  );
  const url = `http://127.0.0.1:${world.port(role)}/ready`;
  const ready = waitFor(`GET ${url} = 200`, async () => (await httpStatus(url)) === 200, readyTimeoutMs, 50);
  const outcome = await Promise.race([
    ready.then(() => 'ready'),
    child.exited.then(() => 'exited before it was ready'),
  ]).catch((err: Error) => err.message);
  if (outcome !== 'ready') {
    await child.stop();
    throw new Error(`${role} did not turn ready: ${outcome}\n${tailOf(logFile, 30)}`);
  }
  return { child, command, env, readyMs: Date.now() - start };
}
