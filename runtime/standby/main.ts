/**
 * rtc-standby: one node's half of an active-standby pair (docs/topologies.md).
 *
 *   rtc-standby agent                  the standby agent (a systemd service beside keepalived)
 *   rtc-standby keepalived [--out F]   keepalived.conf for this node, on stdout or into F
 *   rtc-standby redis [--out F]        redis.conf for this node's session store
 *
 * Each reads the RTC_STANDBY_* environment (runtime/standby/settings.ts), in boot mode (RTC_BOOT_*,
 * on AWS) from the pair's settings parameter and secrets like the runtime (runtime/node/boot.ts).
 * On AWS the node's name is its instance id and its pair address its private IPv4 (IMDS); with
 * RTC_STANDBY_PAIR_ADDRESSES (both nodes', the preferred first) the peer and the preference follow.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { bootClients, parseBootEnv, readBootEnv, reportBootRetry } from '../node/boot';
import { exitOnProblems } from '../node/config';
import { Imds } from '../node/imds';
import { createLogger } from '../node/log';
import { runNode } from '../node/process';
import { FileArbiter, type AddressArbiter } from './address';
import { StandbyAgent } from './agent';
import { STANDBY_DEFAULTS } from './defaults';
import { ElasticIpArbiter, createEc2Client } from './elastic-ip';
import { agentPaths, keepalivedConf } from './keepalived';
import { STANDBY_ENV, StandbySettings, standbySettingsFromEnv } from './settings';
import { Store, storeConf } from './store';

const PROGRAM = 'rtc-standby';
/** Where Debian's redis-server keeps its files (nothing persistent: see storeConf). */
const STORE_DIR = '/var/lib/redis';

const COMMANDS = ['agent', 'keepalived', 'redis'] as const;

async function main(): Promise<void> {
  const [command = 'agent', ...args] = process.argv.slice(2);
  if (!(COMMANDS as readonly string[]).includes(command)) {
    process.stderr.write(`usage: ${PROGRAM} agent | keepalived [--out FILE] | redis [--out FILE]\n`);
    process.exit(2);
  }
  const parsed = standbySettingsFromEnv(await withPairIdentity(await bootEnv()));
  if (!parsed.ok) exitOnProblems(PROGRAM, parsed.problems);
  const settings = parsed.config;
  const paths = agentPaths(settings.stateDir);
  // Readable by all (the runtime reads its serve lease here); the control socket itself is root's.
  mkdirSync(settings.stateDir, { recursive: true, mode: 0o755 });

  const out = args[0] === '--out' ? args[1] : undefined;
  const write = (text: string) =>
    out ? writeFileSync(out, text, { mode: 0o640 }) : process.stdout.write(text);
  if (command === 'keepalived') return void write(keepalivedConf(settings, paths));
  if (command === 'redis') {
    return void write(
      storeConf({
        port: settings.storePort,
        bind: ['127.0.0.1', settings.address],
        dir: STORE_DIR,
        password: settings.storePassword,
      }),
    );
  }

  const log = createLogger(settings.node);
  const storeOptions = { password: settings.storePassword, timeoutMs: STANDBY_DEFAULTS.peerProbeTimeoutMs };
  runNode(log, async () => {
    const agent = new StandbyAgent({
      settings,
      paths,
      arbiter: arbiterOf(settings),
      store: new Store('127.0.0.1', settings.storePort, { ...storeOptions, name: `${settings.node}:agent` }),
      peerStore: new Store(settings.peerAddress, settings.storePort, {
        ...storeOptions,
        name: `${settings.node}:peer`,
      }),
      log,
    });
    await agent.start();
    return { drain: () => agent.stop() };
  });
}

function arbiterOf(settings: StandbySettings): AddressArbiter {
  const { arbiter } = settings;
  return arbiter.kind === 'file'
    ? new FileArbiter(arbiter.path, settings.node)
    : new ElasticIpArbiter(createEc2Client(arbiter.region), arbiter.allocationId, settings.node);
}

/** The environment, or in boot mode the settings parameter's and secrets' variables (exits on a problem). */
async function bootEnv(): Promise<NodeJS.ProcessEnv> {
  const boot = parseBootEnv(process.env);
  if (!boot.ok) exitOnProblems(PROGRAM, boot.problems);
  if (!boot.config) return process.env;
  const variables = new Set(Object.keys(STANDBY_ENV));
  const resolved = await readBootEnv(
    boot.config,
    'master',
    variables,
    bootClients(boot.config.region, new Imds()),
    reportBootRetry(PROGRAM),
  ).catch((err: unknown) => ({
    ok: false as const,
    problems: [`reading the boot configuration: ${(err as Error).message}`],
  }));
  if (!resolved.ok) exitOnProblems(PROGRAM, resolved.problems);
  return { ...process.env, ...resolved.config, AWS_REGION: boot.config.region };
}

/**
 * On AWS (an Elastic IP arbiter): this instance's id as the node's name, its private IPv4 as its
 * pair address, and with RTC_STANDBY_PAIR_ADDRESSES ("preferred,other") the peer and the preference,
 * for whichever of them the environment leaves unset.
 */
async function withPairIdentity(env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  if (!env.RTC_STANDBY_EIP_ALLOCATION_ID) return env;
  const imds = new Imds();
  try {
    const node = env.RTC_STANDBY_NODE || (await imds.require('instance-id'));
    const address = env.RTC_STANDBY_ADDRESS || (await imds.require('local-ipv4'));
    const region = env.AWS_REGION || (await imds.require('placement/region'));
    const pair = (env.RTC_STANDBY_PAIR_ADDRESSES ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean);
    if (pair.length > 0 && (pair.length !== 2 || !pair.includes(address))) {
      exitOnProblems(PROGRAM, [
        `RTC_STANDBY_PAIR_ADDRESSES: must list this node's address (${address}) and its peer's, the preferred first`,
      ]);
    }
    return {
      ...env,
      RTC_STANDBY_NODE: node,
      RTC_STANDBY_ADDRESS: address,
      AWS_REGION: region,
      ...(pair.length === 2 && {
        RTC_STANDBY_PEER_ADDRESS: env.RTC_STANDBY_PEER_ADDRESS || pair.find((a) => a !== address),
        RTC_STANDBY_PREFERRED: env.RTC_STANDBY_PREFERRED || String(pair[0] === address),
      }),
    };
  } catch (err) {
    exitOnProblems(PROGRAM, [`reading this instance's identity from IMDS: ${(err as Error).message}`]);
  }
}

void main();
