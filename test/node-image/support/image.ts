import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EsbuildBundling } from '../../../constructs/node-software/esbuild-bundling';
import { ImageRole, installArguments } from '../../../constructs/node-software/node-release';
import type { NodeRole } from '../../../runtime/contract/registry';
import { describeExit, LoggedChild, spawnLogged, tailOf } from '../../../local/child';
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

/**
 * Each role's program, bundled as main.js. A pair node's is one program for its three units
 * (constructs/standby-pair bundles it): the master, `main.js media`, `main.js standby ...`.
 */
const APP_ENTRY: Record<ImageRole, string> = {
  master: path.join(PROJECT, 'runtime', 'master', 'main.ts'),
  media: path.join(PROJECT, 'runtime', 'media', 'main.ts'),
  pair: path.join(PROJECT, 'runtime', 'standby', 'node-main.ts'),
};

/** The role's app directory, as the image gets it: the project's esbuild bundles. */
export function buildApp(role: ImageRole, dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const entries: Record<string, string> = { 'main.js': APP_ENTRY[role] };
  if (fs.existsSync(LOG_SHIPPER_ENTRY)) entries['log-shipper.js'] = LOG_SHIPPER_ENTRY;
  new EsbuildBundling(entries, PROJECT).tryBundle(dir);
  return Object.keys(entries);
}

/** `chroot ROOT bash rtc-ha-node.sh install <installArguments>`: what Image Builder runs. */
export function installRole(rootfs: Rootfs, role: ImageRole): void {
  const app = `${STAGING}/app`;
  const files = buildApp(role, rootfs.at(app));
  fs.copyFileSync(INSTALL_SCRIPT, rootfs.at(`${STAGING}/rtc-ha-node.sh`));
  progress(`${role}: installing (${files.join(', ')}) with apt-get and Node.js from the npm registry`);
  rootfs.chroot(['bash', `${STAGING}/rtc-ha-node.sh`, ...installArguments(role, app)]);
}

/**
 * `rtc-ha-node configure`, as user data runs it at boot (the installed copy of the script): `--set`
 * each of `settings`, `--media-set` each of `mediaSettings` (a pair node's media agent's own).
 */
export function configureRole(
  rootfs: Rootfs,
  settings: Readonly<Record<string, string>>,
  mediaSettings: Readonly<Record<string, string>> = {},
  stopTimeout = 40,
): string {
  const options = (option: string, values: Readonly<Record<string, string>>) =>
    Object.entries(values).flatMap(([name, value]) => [option, `${name}=${value}`]);
  return rootfs.chroot([
    '/opt/rtc-ha/bin/rtc-ha-node',
    'configure',
    ...options('--set', settings),
    ...options('--media-set', mediaSettings),
    '--stop-timeout',
    String(stopTimeout),
  ]);
}

/** What the test takes from an installed unit: exactly what systemd would run. */
export interface UnitCommand {
  /** Every `ExecStart=`, split on blanks, in order: one for a service, one or more for a oneshot. */
  readonly execStart: readonly (readonly string[])[];
  /** `User=`, or root without one (as systemd runs such a unit). */
  readonly user: string;
  readonly environmentFile?: string;
  /** `RuntimeDirectory=` and its mode, which systemd makes under /run for the unit's user. */
  readonly runtimeDirectory?: { readonly name: string; readonly mode: number };
}

/** The `[Service]` lines of a unit file, `[key, value]` in order. */
function serviceLines(unitText: string): [string, string][] {
  const lines: [string, string][] = [];
  let section = '';
  for (const line of unitText.split('\n')) {
    const header = /^\[(.+)\]\s*$/.exec(line);
    if (header) section = header[1];
    const pair = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (section === 'Service' && pair) lines.push([pair[1], pair[2]]);
  }
  return lines;
}

/** The `[Service]` keys of a unit file (the last one wins, as for systemd's single-value keys). */
export function serviceKeys(unitText: string): Record<string, string> {
  return Object.fromEntries(serviceLines(unitText));
}

/** `unit` as installed (in /etc/systemd/system, or `dir`: a package's units are in /lib/systemd/system). */
export function readUnit(rootfs: Rootfs, unit: string, dir = UNIT_DIR): UnitCommand {
  const text = fs.readFileSync(rootfs.at(`${dir}/${unit}`), 'utf8');
  const keys = serviceKeys(text);
  const execStart = serviceLines(text)
    .filter(([key]) => key === 'ExecStart')
    .map(([, value]) => value.split(/\s+/));
  if (execStart.length === 0) throw new Error(`${unit} has no ExecStart`);
  const user = keys.User ?? 'root';
  return {
    execStart,
    user,
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

/** `systemctl --root is-enabled UNIT`: enabled, disabled, masked, ... */
export function isEnabled(rootfs: Rootfs, unit: string): string {
  const result = spawnSync('systemctl', [`--root=${rootfs.dir}`, 'is-enabled', unit], { encoding: 'utf8' });
  return `${result.stdout}${result.stderr}`.trim();
}

/** Every unit some target or unit of /etc/systemd/system wants (its *.wants links). */
export function wantedUnits(rootfs: Rootfs): string[] {
  return fs
    .readdirSync(rootfs.at(UNIT_DIR))
    .filter((d) => d.endsWith('.wants'))
    .flatMap((d) => fs.readdirSync(rootfs.at(`${UNIT_DIR}/${d}`)));
}

/** The command lines of the processes running in the root file system (their root is its directory). */
export function processesIn(rootfs: Rootfs): string[] {
  return fs
    .readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid))
    .flatMap((pid) => {
      try {
        if (fs.readlinkSync(`/proc/${pid}/root`) !== rootfs.dir) return [];
        return [fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()];
      } catch {
        return []; // gone meanwhile
      }
    });
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

/**
 * A pair node's pair, as StandbyPair (constructs/standby-pair) puts it in the settings parameter, for
 * this node: the second of the pair's addresses (IMDS local-ipv4: the host's own, so that its store can
 * bind it and keepalived finds it on an interface).
 */
export interface PairFacts {
  readonly address: string;
  readonly peerAddress: string;
  /** RTC_STANDBY_INTERFACE: the host's interface holding `address`. */
  readonly interface: string;
  /** RTC_STANDBY_STORE_PORT: a free port (the host may run a redis-server on 6379). */
  readonly storePort: number;
  /** The session stores' password (RTC_STANDBY_STORE_PASSWORD and the master's RTC_REDIS_AUTH_TOKEN). */
  readonly storePassword: string;
  readonly allocationId: string;
  /** The Elastic IP: the media agent's RTC_BOOT_PUBLIC_ADDRESS, and where the peer answers clients. */
  readonly publicAddress: string;
  readonly peerServiceUrl: string;
  /** The media agents' own settings parameter (`--media-set RTC_BOOT_SETTINGS_PARAMETER=`). */
  readonly mediaParameter: string;
  /** The port that parameter tells the media agent to listen on. */
  readonly mediaPort: number;
  /** RTC_STANDBY_DIR and RTC_SERVE_LEASE_FILE, where StandbyPair puts them. */
  readonly stateDir: string;
  readonly leaseFile: string;
}

/** The AWS side a booting node talks to, on loopback: IMDS, SSM + Secrets Manager + CloudFormation, ElastiCache. */
export interface BootWorld {
  readonly redis: TlsRedis;
  /** Every AWS API call the nodes made, e.g. their SignalResource. */
  readonly aws: AwsApiStandIn;
  /** boot.env settings for `role` (RTC_BOOT_*), as the CDK's user data would pass them. */
  bootSettings(role: ImageRole): Record<string, string>;
  /** `configure --media-set` settings for `role` (a pair node's media agent's own), as StandbyPair passes them. */
  mediaBootSettings(role: ImageRole): Record<string, string>;
  /** Stand-in redirections the unit's process gets on top of its EnvironmentFile. */
  standInEnv(role: ImageRole, caInside: string): Record<string, string>;
  /** The port `role`'s settings tell its master (or media agent) to listen on. */
  port(role: ImageRole): number;
  /** The instance id IMDS gives `role`'s node. */
  instanceId(role: ImageRole): string;
  /** The API secret's stages: rotated once, so a master takes both. */
  readonly apiSecret: { readonly current: string; readonly previous: string };
  /** What RTC_BOOT_SIGNAL_STACK / RTC_BOOT_SIGNAL_RESOURCE name for `role`. */
  signalTarget(role: NodeRole): { readonly stack: string; readonly resource: string };
  readonly publicIpv4: string;
  readonly pair: PairFacts;
  close(): Promise<void>;
}

/**
 * Whether `role`'s node signals CloudFormation once ready: a pair's nodes are two instances that no
 * Auto Scaling group waits for (StandbyPair sets no signal).
 */
export function signalsReady(role: ImageRole): role is NodeRole {
  return role !== 'pair';
}

const REGION = 'eu-west-1';
/** Where MediaFleet tells the agent to write Janus's config: inside the unit's RuntimeDirectory. */
const JANUS_CONFIG_DIR = '/run/rtc-ha/janus';
/** The PATH systemd gives every unit. */
const SYSTEMD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin';

/** A non-loopback IPv4 address of this machine and its interface (the chroot shares its network). */
function hostIpv4(): { readonly address: string; readonly interface: string } {
  for (const [name, addresses] of Object.entries(os.networkInterfaces())) {
    const found = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (found) return { address: found.address, interface: name };
  }
  throw new Error('the node image test needs a non-loopback IPv4 address (Janus, the pair link)');
}
const SECRET_ARN = (name: string) => `arn:aws:secretsmanager:${REGION}:123456789012:secret:${name}`;
const INSTANCE_IDS: Record<ImageRole, string> = {
  master: 'i-0000000000000master',
  media: 'i-00000000000000media',
  pair: 'i-000000000000000pair',
};

/** Starts the stand-ins and the TLS Redis, with settings and secrets for every role. */
export async function startBootWorld(): Promise<BootWorld> {
  const redis = await startTlsRedis(`redis-token-${process.pid}`);
  const ports: Record<ImageRole, number> = {
    master: await freePort(),
    media: await freePort(),
    pair: await freePort(),
  };
  const host = hostIpv4();
  const publicIpv4 = '203.0.113.7';
  const apiSecret = { current: 'api-secret-of-the-image-test', previous: 'api-secret-before-the-rotation' };
  const pair: PairFacts = {
    address: host.address,
    // TEST-NET-2: never this host's own.
    peerAddress: '198.51.100.10',
    interface: host.interface,
    storePort: await freePort(),
    storePassword: 'store-password-of-the-image-test',
    allocationId: 'eipalloc-0123456789abcdef0',
    publicAddress: '203.0.113.9',
    peerServiceUrl: 'http://203.0.113.9:8443/ready',
    mediaParameter: '/rtc-ha/pair-media',
    mediaPort: await freePort(),
    stateDir: '/run/rtc-ha-standby',
    leaseFile: '/run/rtc-ha-standby/serve.json',
  };
  const settings = (role: NodeRole) =>
    [
      `RTC_REDIS_URL=rediss://127.0.0.1:${redis.port}`,
      `RTC_PORT=${ports[role]}`,
      'RTC_KEY_PREFIX=imagetest',
      // As MediaFleet sets them: Janus on, its config in the unit's RuntimeDirectory.
      ...(role === 'media' ? ['RTC_JANUS=on', `RTC_JANUS_CONFIG_DIR=${JANUS_CONFIG_DIR}`] : []),
    ].join('\n');
  // As StandbyPair sets them: one parameter for the master and the standby agent, each reading its own.
  const pairSettings = [
    `RTC_PORT=${ports.pair}`,
    'RTC_KEY_PREFIX=imagetest',
    // The node's own store: the redis-server its pair-config unit configures.
    `RTC_REDIS_URL=redis://127.0.0.1:${pair.storePort}`,
    `RTC_SERVE_LEASE_FILE=${pair.leaseFile}`,
    `RTC_STANDBY_DIR=${pair.stateDir}`,
    `RTC_STANDBY_PAIR_ADDRESSES=${pair.peerAddress},${pair.address}`,
    `RTC_STANDBY_INTERFACE=${pair.interface}`,
    `RTC_STANDBY_EIP_ALLOCATION_ID=${pair.allocationId}`,
    `RTC_STANDBY_PEER_SERVICE_URL=${pair.peerServiceUrl}`,
    `RTC_STANDBY_RUNTIME_PORT=${ports.pair}`,
    'RTC_STANDBY_RUNTIME_SCHEME=http',
    'RTC_STANDBY_FAILBACK=automatic',
    'RTC_STANDBY_PREEMPT_DELAY_S=10',
    `RTC_STANDBY_STORE_PORT=${pair.storePort}`,
  ].join('\n');
  // As StandbyPair sets the media agents': their own port, the node's store, Janus in their own folder.
  const pairMediaSettings = [
    `RTC_PORT=${pair.mediaPort}`,
    'RTC_KEY_PREFIX=imagetest',
    `RTC_REDIS_URL=redis://127.0.0.1:${pair.storePort}`,
    'RTC_JANUS=on',
    'RTC_JANUS_CONFIG_DIR=/run/rtc-ha-media/janus',
  ].join('\n');
  const aws = await startBootAwsApi(
    {
      '/rtc-ha/master': settings('master'),
      '/rtc-ha/media': settings('media'),
      '/rtc-ha/pair': pairSettings,
      [pair.mediaParameter]: pairMediaSettings,
    },
    {
      [SECRET_ARN('redis-auth')]: { current: redis.authToken },
      [SECRET_ARN('api')]: apiSecret,
      [SECRET_ARN('media-control')]: { current: 'media-control-secret-of-the-image-test' },
      [SECRET_ARN('store-password')]: { current: pair.storePassword },
    },
  );
  const imds: Record<ImageRole, ImdsStandIn> = {
    master: await startImds({ 'instance-id': INSTANCE_IDS.master, 'local-ipv4': '127.0.0.1' }),
    // Janus refuses to gather ICE on loopback: the media node's private address is the host's own.
    media: await startImds({
      'instance-id': INSTANCE_IDS.media,
      'local-ipv4': host.address,
      'public-ipv4': publicIpv4,
    }),
    pair: await startImds({ 'instance-id': INSTANCE_IDS.pair, 'local-ipv4': pair.address }),
  };
  const signalTarget = (role: NodeRole) => ({
    stack: 'RtcHaImageTest',
    resource: role === 'master' ? 'MastersAsg' : 'MediaAsg',
  });
  const secrets = (role: ImageRole) =>
    role === 'pair'
      ? // StandbyPair's list: the store's password twice, the master's and the standby agent's.
        [
          `RTC_API_SECRET=${SECRET_ARN('api')}`,
          `RTC_REDIS_AUTH_TOKEN=${SECRET_ARN('store-password')}`,
          `RTC_STANDBY_STORE_PASSWORD=${SECRET_ARN('store-password')}`,
          `RTC_MEDIA_CONTROL_SECRET=${SECRET_ARN('media-control')}`,
        ]
      : [
          `RTC_REDIS_AUTH_TOKEN=${SECRET_ARN('redis-auth')}`,
          `RTC_MEDIA_CONTROL_SECRET=${SECRET_ARN('media-control')}`,
          ...(role === 'master' ? [`RTC_API_SECRET=${SECRET_ARN('api')}`] : []),
        ];
  return {
    redis,
    aws,
    publicIpv4,
    apiSecret,
    signalTarget,
    pair,
    port: (role) => ports[role],
    instanceId: (role) => INSTANCE_IDS[role],
    bootSettings: (role) => ({
      RTC_BOOT_REGION: REGION,
      RTC_BOOT_SETTINGS_PARAMETER: `/rtc-ha/${role}`,
      RTC_BOOT_SECRETS: secrets(role).join(','),
      ...(signalsReady(role) && {
        RTC_BOOT_SIGNAL_STACK: signalTarget(role).stack,
        RTC_BOOT_SIGNAL_RESOURCE: signalTarget(role).resource,
      }),
    }),
    mediaBootSettings: (role): Record<string, string> =>
      role === 'pair'
        ? { RTC_BOOT_SETTINGS_PARAMETER: pair.mediaParameter, RTC_BOOT_PUBLIC_ADDRESS: pair.publicAddress }
        : {},
    standInEnv: (role, caInside) => ({
      PATH: SYSTEMD_PATH,
      AWS_EC2_METADATA_SERVICE_ENDPOINT: imds[role].endpoint,
      AWS_ENDPOINT_URL: aws.endpoint,
      AWS_ACCESS_KEY_ID: 'AKIAIMAGETEST',
      AWS_SECRET_ACCESS_KEY: 'image-test-dummy',
      NODE_EXTRA_CA_CERTS: caInside,
    }),
    close: async () => {
      await Promise.all([aws.close(), ...Object.values(imds).map((i) => i.close()), redis.stop()]);
    },
  };
}

/** A unit's command running in the root file system, as its User, with its EnvironmentFile. */
export interface RunningUnit {
  readonly child: LoggedChild;
  readonly command: UnitCommand;
  /** Exactly the environment it got. */
  readonly env: Record<string, string>;
}

/** The installed rtc-ha.service, started and up. */
export interface StartedUnit extends RunningUnit {
  /** Milliseconds from spawn to GET {@link UP_PATH} = 200. */
  readonly readyMs: number;
}

/**
 * What a role's master answers 200 on once it is up: /ready, but on a pair node /live. A pair's master
 * serves only under the serve lease its standby agent grants: up and not ready, standing by.
 */
const UP_PATH: Record<ImageRole, '/ready' | '/live'> = {
  master: '/ready',
  media: '/ready',
  pair: '/live',
};

/** The PATH systemd gives every unit, and the stand-in redirections of `role`'s node (the Redis CA copied in). */
function standIns(rootfs: Rootfs, role: ImageRole, world: BootWorld): Record<string, string> {
  const caInside = '/etc/rtc-ha-test/redis-ca.crt';
  fs.mkdirSync(rootfs.at(path.dirname(caInside)), { recursive: true });
  fs.copyFileSync(world.redis.caFile, rootfs.at(caInside));
  fs.chmodSync(rootfs.at(caInside), 0o644);
  return world.standInEnv(role, caInside);
}

/** `execStart` through `chroot --userspec=USER:USER ROOT`, as systemd runs it for the unit's User. */
function spawnAsUser(
  rootfs: Rootfs,
  command: UnitCommand,
  execStart: readonly string[],
  name: string,
  env: Record<string, string>,
): LoggedChild {
  const logFile = path.join(os.tmpdir(), `${path.basename(rootfs.dir)}-${name}.log`);
  fs.writeFileSync(logFile, '');
  return spawnLogged(
    name,
    '/usr/sbin/chroot',
    [`--userspec=${command.user}:${command.user}`, rootfs.dir, ...execStart],
    logFile,
    env,
  );
}

/**
 * Prepares `unit` (in /etc/systemd/system, or `dir`) as systemd does before it runs its commands:
 * its RuntimeDirectory, and its environment: the EnvironmentFile's variables plus `env`.
 */
function prepareUnit(
  rootfs: Rootfs,
  unit: string,
  env: Record<string, string>,
  dir = UNIT_DIR,
): { command: UnitCommand; env: Record<string, string> } {
  const command = readUnit(rootfs, unit, dir);
  makeRuntimeDirectory(rootfs, command);
  const fromFile = command.environmentFile ? readEnvironmentFile(rootfs, command.environmentFile) : {};
  return { command, env: { ...fromFile, ...env } };
}

/**
 * Starts a service's ExecStart (in /etc/systemd/system, or `dir`) as systemd would: its RuntimeDirectory
 * first, then the command as its User with its EnvironmentFile's variables and `env` (at least a PATH).
 */
export function spawnInstalledUnit(
  rootfs: Rootfs,
  unit: string,
  env: Record<string, string> = { PATH: SYSTEMD_PATH },
  dir = UNIT_DIR,
): RunningUnit {
  const prepared = prepareUnit(rootfs, unit, env, dir);
  const [execStart, ...more] = prepared.command.execStart;
  if (more.length > 0)
    throw new Error(`${unit} has more than one ExecStart: run it with runInstalledOneshot`);
  return { ...prepared, child: spawnAsUser(rootfs, prepared.command, execStart, unit, prepared.env) };
}

/**
 * Runs the installed rtc-ha.service's ExecStart through `chroot --userspec=USER:USER`, with the
 * EnvironmentFile's variables plus only the stand-in redirections, and waits for GET /ready = 200
 * ({@link UP_PATH}: a pair node's master turns live).
 */
export function startInstalledUnit(
  rootfs: Rootfs,
  role: ImageRole,
  world: BootWorld,
  readyTimeoutMs = 30_000,
): Promise<StartedUnit> {
  const url = `http://127.0.0.1:${world.port(role)}${UP_PATH[role]}`;
  return startService(rootfs, 'rtc-ha.service', role, world, url, readyTimeoutMs);
}

/** A pair node's rtc-ha-media.service, as {@link startInstalledUnit} starts rtc-ha.service. */
export function startPairMediaUnit(
  rootfs: Rootfs,
  world: BootWorld,
  readyTimeoutMs = 30_000,
): Promise<StartedUnit> {
  const url = `http://127.0.0.1:${world.pair.mediaPort}/ready`;
  return startService(rootfs, 'rtc-ha-media.service', 'pair', world, url, readyTimeoutMs);
}

async function startService(
  rootfs: Rootfs,
  name: string,
  role: ImageRole,
  world: BootWorld,
  url: string,
  readyTimeoutMs: number,
): Promise<StartedUnit> {
  const unit = spawnInstalledUnit(rootfs, name, standIns(rootfs, role, world));
  const start = Date.now();
  const ready = waitFor(`GET ${url} = 200`, async () => (await httpStatus(url)) === 200, readyTimeoutMs, 50);
  const outcome = await Promise.race([
    ready.then(() => 'ready'),
    unit.child.exited.then(() => 'exited before it was ready'),
  ]).catch((err: Error) => err.message);
  if (outcome !== 'ready') {
    await unit.child.stop();
    throw new Error(`${role}'s ${name} did not turn ready: ${outcome}\n${tailOf(unit.child.logFile, 30)}`);
  }
  return { ...unit, readyMs: Date.now() - start };
}

/**
 * Runs an installed oneshot as systemd starts it: its RuntimeDirectory, then each ExecStart in turn as
 * its User, with its EnvironmentFile's variables and the stand-ins of `role`'s node; throws with the
 * output of the first that fails.
 */
export async function runInstalledOneshot(
  rootfs: Rootfs,
  unit: string,
  role: ImageRole,
  world: BootWorld,
  timeoutMs = 30_000,
): Promise<UnitCommand> {
  const { command, env } = prepareUnit(rootfs, unit, standIns(rootfs, role, world));
  for (const execStart of command.execStart) {
    const child = spawnAsUser(rootfs, command, execStart, unit, env);
    const timer = setTimeout(() => void child.stop(), timeoutMs);
    const exit = await child.exited;
    clearTimeout(timer);
    const output = tailOf(child.logFile, 30);
    fs.rmSync(child.logFile, { force: true });
    if (exit.code !== 0) {
      throw new Error(`${unit}: ${execStart.join(' ')} failed (${describeExit(exit)}):\n${output}`);
    }
  }
  return command;
}
