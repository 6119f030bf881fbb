/**
 * An active-standby pair on one machine, for its test and benchmark: three network namespaces made
 * for the run (and removed by stop()), real keepalived, redis-server, master runtime, media agent and
 * standby agent in each node's.
 *
 *   client namespace: br0 10.88.0.10/24, a bridge joining the nodes' client-side interfaces
 *   node a: pub0 10.88.0.1/24 on the bridge; ha0 10.89.0.1/24, the pair link, a veth to node b
 *   node b: pub0 10.88.0.2/24 on the bridge; ha0 10.89.0.2/24
 *
 * keepalived speaks unicast VRRP on the pair link and moves the service address 10.88.0.100 on the
 * bridge; the stores replicate and the agents talk over the pair link, so cutting it (one veth end
 * down) cuts the nodes apart while clients still reach both. The address arbiter is a file both
 * agents see (the Elastic IP's stand-in). Nothing gets an address outside these namespaces.
 *
 * With `janus`, each node's media agent runs Janus, gathering ICE on the node's own bridge address
 * (AWS: the instance's private address) and advertising the service address as its public one (AWS:
 * the Elastic IP, RTC_BOOT_PUBLIC_ADDRESS), so Janus offers both: the public candidate through its
 * 1:1 NAT mapping and the private host candidate it keeps beside it. The 1:1 NAT itself is not
 * emulated (the test machine has no iptables or nft, and its kernel no tc nat action): the public
 * candidate gets no answer, and clients on the bridge pair with the private one, as a client inside
 * the VPC does.
 */
import { ChildProcess, execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_PORTS, Keys, NodeIdentitySchema, parseJsonOrUndefined } from '../../runtime/contract';
import { agentPaths, keepalivedConf } from '../../runtime/standby/keepalived';
import { standbySettingsFromEnv } from '../../runtime/standby/settings';
import { storeConf } from '../../runtime/standby/store';
import { STANDBY_DEFAULTS } from '../../runtime/standby/defaults';
import { LoggedChild, spawnLogged, tailOf } from '../child';
import { killJanusUnder, reachableTempDir } from '../media';
import { bundleEntry } from '../node-process';
import { waitFor } from '../ports';

const run = promisify(execFile);
/** What a pair node runs on AWS too: one bundle, the master by default, `media`, `standby <command>`. */
const NODE_ENTRY = 'runtime/standby/node-main.ts';

export type NodeName = 'a' | 'b';
export const NODE_NAMES: readonly NodeName[] = ['a', 'b'];

/** The run's addresses (inside its namespaces only). */
export const PAIR_NET = {
  client: '10.88.0.10',
  serviceAddress: '10.88.0.100',
  prefix: 24,
  pub: { a: '10.88.0.1', b: '10.88.0.2' },
  link: { a: '10.89.0.1', b: '10.89.0.2' },
} as const;

const RUNTIME_PORT = DEFAULT_PORTS.master;
const peerOf = (name: NodeName): NodeName => (name === 'a' ? 'b' : 'a');
/** Node `name`'s media agent as the registry knows it (its RTC_NODE_ID; on AWS the instance id). */
export const mediaNodeOf = (name: NodeName): string => `media-${name}`;

/** Why the pair cannot run on this machine (with Janus on both nodes: `janus`), or undefined when it can. */
export function pairUnavailable(needs: { readonly janus?: boolean } = {}): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root (CI runs as root)';
  for (const [binary, pkg] of [
    ['ip', 'iproute2'],
    ['keepalived', 'keepalived'],
    ['redis-server', 'redis-server'],
    ['curl', 'curl'],
    ...(needs.janus ? [['janus', 'janus']] : []),
  ]) {
    if (spawnSync(binary, ['--version'], { stdio: 'ignore' }).error) {
      return `${binary} not found: bash scripts/ensure-test-deps.sh installs it (Debian: ${pkg})`;
    }
  }
  return undefined;
}

export interface PairOptions {
  readonly failback: 'automatic' | 'manual';
  /** keepalived's preempt_delay for automatic failback. */
  readonly preemptDelayS: number;
  /** The secret of the masters' REST API. */
  readonly apiSecret: string;
  /**
   * Each node's media agent runs Janus (ICE on the node's bridge address, public address the
   * service address) and the masters broker media to it.
   * @default false - RTC_JANUS=off: the media agents register and carry no media
   */
  readonly janus?: boolean;
}

interface NodeProcesses {
  readonly store: LoggedChild;
  readonly master: LoggedChild;
  readonly media: LoggedChild;
  readonly agent: LoggedChild;
  readonly keepalived: LoggedChild;
}

export class StandbyPair {
  /** The service as clients reach it: the floating address. */
  readonly serviceUrl = `http://${PAIR_NET.serviceAddress}:${RUNTIME_PORT}`;
  readonly namespaces: Readonly<Record<NodeName | 'client', string>>;
  private readonly running = new Map<NodeName, NodeProcesses>();
  /** Every child ever started: stop() waits for each to be gone. */
  private readonly children: LoggedChild[] = [];
  /** With Janus: the masters and media agents prove it to each other on the control channel. */
  private readonly controlSecret = randomBytes(24).toString('hex');
  /** The bundled node program (./node-main.ts of runtime/standby), once {@link bundle} ran. */
  private program = '';
  /**
   * With Janus: the folder of each media agent's TMPDIR, where it writes its Janus's configuration
   * (reachable by `nobody`, whom Janus runs as); stop() removes it.
   */
  readonly janusDir: string | undefined;

  private constructor(
    readonly dir: string,
    readonly options: PairOptions,
  ) {
    const id = `rtcsb-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
    this.namespaces = { client: `${id}-c`, a: `${id}-a`, b: `${id}-b` };
    this.janusDir = options.janus ? reachableTempDir('rtcsb-janus-') : undefined;
  }

  /** Creates the namespaces and starts both nodes; the preferred node (a) becomes active. */
  static async start(options: PairOptions): Promise<StandbyPair> {
    const unavailable = pairUnavailable({ janus: options.janus });
    if (unavailable) throw new Error(`the standby pair cannot run here: ${unavailable}`);
    const pair = new StandbyPair(mkdtempSync(join(tmpdir(), 'rtcsb-')), options);
    try {
      await Promise.all([pair.createNetwork(), pair.bundle()]);
      // The preferred node first: with manual failback (no preemption) the first node up stays active,
      // and on a loaded machine b's processes could otherwise win the first election.
      await pair.startNode('a');
      await pair.waitUntilServing('a', 30_000);
      await pair.startNode('b');
      await pair.waitUntilFollowing('b', 30_000);
      // Rooms are placed on a registered media agent whose Janus is up (the standby's is not registered).
      if (options.janus) await pair.waitUntilMediaReady('a', 30_000);
    } catch (err) {
      await pair.stop();
      throw err;
    }
    return pair;
  }

  /** Starts (or restarts) every process of node `name`; resolves once its runtime is live. */
  async startNode(name: NodeName): Promise<void> {
    const ns = this.namespaces[name];
    const dir = join(this.dir, name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const leaseFile = join(dir, 'serve.json');
    const spawn = (what: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env) => {
      const child = spawnLogged(
        `${name}-${what}`,
        'ip',
        ['netns', 'exec', ns, command, ...args],
        join(dir, `${what}.log`),
        env,
      );
      this.children.push(child);
      return child;
    };

    writeFileSync(
      join(dir, 'redis.conf'),
      storeConf({ port: STANDBY_DEFAULTS.storePort, bind: ['127.0.0.1', PAIR_NET.link[name]], dir }),
    );
    const store = spawn('store', 'redis-server', [join(dir, 'redis.conf')]);
    const nodeEnv = {
      ...withoutRtcVariables(),
      RTC_REDIS_URL: `redis://127.0.0.1:${STANDBY_DEFAULTS.storePort}`,
      RTC_API_SECRET: this.options.apiSecret,
      RTC_LISTEN_HOST: '0.0.0.0',
      ...(this.janusDir && { RTC_MEDIA_CONTROL_SECRET: this.controlSecret }),
    };
    const program = (...args: string[]) => ['--enable-source-maps', this.program, ...args];
    const master = spawn('master', process.execPath, program(), {
      ...nodeEnv,
      RTC_NODE_ID: `master-${name}`,
      RTC_PORT: String(RUNTIME_PORT),
      RTC_ADVERTISE_ADDRESS: `${PAIR_NET.pub[name]}:${RUNTIME_PORT}`,
      RTC_SERVE_LEASE_FILE: leaseFile,
    });
    const media = spawn('media', process.execPath, program('media'), {
      ...nodeEnv,
      RTC_NODE_ID: mediaNodeOf(name),
      RTC_PORT: String(DEFAULT_PORTS.media),
      ...this.mediaEnv(name),
    });
    const agentEnv = this.agentEnv(name, dir, leaseFile);
    const agent = spawn('agent', process.execPath, program('standby', 'agent'), agentEnv);
    const settings = standbySettingsFromEnv(agentEnv);
    if (!settings.ok) throw new Error(`standby settings of node ${name}: ${settings.problems.join('; ')}`);
    writeFileSync(join(dir, 'keepalived.conf'), keepalivedConf(settings.config, agentPaths(dir)));
    const procs = { store, master, media, agent };
    // keepalived last: its first notify must find the agent listening.
    await this.waitForNode(name, procs);
    const keepalived = spawn('keepalived', 'keepalived', [
      '--dont-fork',
      '--log-console',
      '--vrrp',
      `--use-file=${join(dir, 'keepalived.conf')}`,
      `--pid=${join(dir, 'keepalived.pid')}`,
      `--vrrp_pid=${join(dir, 'vrrp.pid')}`,
    ]);
    this.running.set(name, { ...procs, keepalived });
  }

  /** SIGKILL every process in node `name`'s namespace (a crash of the whole node). */
  killNode(name: NodeName): void {
    killAll(this.pidsIn(name));
  }

  /** The master runtime of node `name` (SIGSTOP: a hang, SIGCONT: it wakes up). */
  runtime(name: NodeName): ChildProcess {
    const node = this.running.get(name);
    if (!node) throw new Error(`node ${name} is not running`);
    return node.master.process;
  }

  /**
   * Cuts (or restores) the pair link in node `name`'s namespace: nothing passes between it and the
   * peer's pair address any more (VRRP, replication, the agents' status), in either direction,
   * while both interfaces stay up and clients still reach both nodes: a blackhole route to the peer
   * drops what leaves, strict reverse-path filtering drops what arrives from it. (Setting one veth
   * end down would take the carrier off both, and keepalived faults on a dead link.)
   */
  async cutLink(name: NodeName, cut: boolean): Promise<void> {
    const ns = this.namespaces[name];
    const peer = `${PAIR_NET.link[peerOf(name)]}/32`;
    await run('ip', [
      'netns',
      'exec',
      ns,
      'sysctl',
      '-qw',
      'net.ipv4.conf.all.rp_filter=1',
      'net.ipv4.conf.ha0.rp_filter=1',
    ]);
    await run('ip', ['-n', ns, 'route', cut ? 'add' : 'del', 'blackhole', peer]);
  }

  /** The nodes whose client-side interface holds the service address now. */
  async addressHolders(): Promise<NodeName[]> {
    const held = await Promise.all(
      NODE_NAMES.map(async (name) => {
        const { stdout } = await run('ip', [
          '-n',
          this.namespaces[name],
          '-o',
          '-4',
          'addr',
          'show',
          'dev',
          'pub0',
        ]);
        return stdout.includes(` ${PAIR_NET.serviceAddress}/`);
      }),
    );
    return NODE_NAMES.filter((_, i) => held[i]);
  }

  /**
   * The media nodes node `name`'s store holds a live record of (runtime/contract/registry.ts): those
   * its masters would place rooms on while the record's heartbeat is fresh.
   */
  async liveMediaNodes(name: NodeName): Promise<string[]> {
    const keys = new Keys();
    const ns = this.namespaces[name];
    const store = (...args: string[]) =>
      this.cli(ns, 'redis-cli', ['-p', String(STANDBY_DEFAULTS.storePort), ...args]);
    // HGETALL's reply one item a line: a node id, then its identity (JSON, one line).
    const lines = (await store('HGETALL', keys.identities())).split('\n');
    const media: string[] = [];
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const identity = NodeIdentitySchema.safeParse(parseJsonOrUndefined(lines[i + 1]));
      if (identity.success && identity.data.role === 'media') media.push(identity.data.nodeId);
    }
    const live = await Promise.all(media.map(async (id) => (await store('EXISTS', keys.node(id))) === '1'));
    return media.filter((_, i) => live[i]).sort();
  }

  /** HTTP status of GET `url` from the client namespace (0: no answer within 1 s). */
  async clientGet(url: string): Promise<number> {
    return this.statusFrom('client', url);
  }

  /** Whether node `name`'s runtime answers ready (seen from the client namespace). */
  async ready(name: NodeName): Promise<boolean> {
    return (await this.clientGet(`http://${PAIR_NET.pub[name]}:${RUNTIME_PORT}/ready`)) === 200;
  }

  /** Resolves once node `name`'s media agent answers ready: registered, and its Janus up. */
  async waitUntilMediaReady(name: NodeName, timeoutMs: number): Promise<void> {
    const url = `http://127.0.0.1:${DEFAULT_PORTS.media}/ready`;
    await waitFor(
      `node ${name}: media agent ready`,
      async () => (await this.statusFrom(name, url)) === 200,
      timeoutMs,
      100,
    ).catch((err: Error) => {
      const media = this.running.get(name)?.media;
      throw new Error(
        `${err.message}${media ? `; last lines of ${media.logFile}:\n${tailOf(media.logFile)}` : ''}`,
      );
    });
  }

  /** Resolves once node `name` holds the address and its runtime is ready, and the other is not ready. */
  async waitUntilServing(name: NodeName, timeoutMs: number): Promise<void> {
    await waitFor(
      `node ${name} serving the pair's address`,
      async () =>
        (await this.ready(name)) &&
        !(await this.ready(peerOf(name))) &&
        (await this.addressHolders()).includes(name),
      timeoutMs,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.describe()}`);
    });
  }

  /** Resolves once node `name`'s store is a replica in sync with its peer's (the standby, caught up). */
  async waitUntilFollowing(name: NodeName, timeoutMs: number): Promise<void> {
    await waitFor(
      `node ${name}'s store following its peer`,
      async () =>
        (await this.cli(this.namespaces[name], 'redis-cli', ['-p', '6379', 'info', 'replication'])).includes(
          'master_link_status:up',
        ),
      timeoutMs,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.describe()}`);
    });
  }

  /** Runs `command` in the client namespace, its output in `<dir>/<name>.log`. */
  spawnInClient(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): LoggedChild {
    return spawnLogged(
      name,
      'ip',
      ['netns', 'exec', this.namespaces.client, command, ...args],
      join(this.dir, `${name}.log`),
      env,
    );
  }

  /** The last lines of each node's agent and keepalived logs: what an assertion failure needs. */
  describe(): string {
    return [...this.running]
      .flatMap(([name, node]) => [
        `--- node ${name} agent:\n${tailOf(node.agent.logFile, 12)}`,
        `--- node ${name} keepalived:\n${tailOf(node.keepalived.logFile, 8)}`,
      ])
      .join('\n');
  }

  /** Ends every process (resolving once each is gone), deletes the namespaces and the run's folder. */
  async stop(): Promise<void> {
    for (const name of NODE_NAMES) this.killNode(name);
    await Promise.all(this.children.map((child) => child.exited));
    this.running.clear();
    const namespaces = Object.values(this.namespaces);
    for (const ns of namespaces) killAll(pidsOf(ns));
    // Not only the children: a SIGKILLed Janus (the agent's child) or browser takes a moment to exit.
    await waitFor(
      'every process of the pair gone',
      () => namespaces.every((ns) => pidsOf(ns).length === 0),
      5_000,
      50,
    ).catch(() => undefined);
    for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    if (this.janusDir) {
      // Janus lived in its node's namespace (gone by now); this only catches one that escaped it.
      killJanusUnder(this.janusDir);
      rmSync(this.janusDir, { recursive: true, force: true });
    }
    if (!process.env.RTC_KEEP_STANDBY_LOGS) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Bundles the node program (cached per checkout, rebuilt when a source changed). */
  private async bundle(): Promise<void> {
    this.program = await bundleEntry(NODE_ENTRY);
  }

  /** Node `name`'s media agent's Janus settings (the pair's `janus` option), or Janus off. */
  private mediaEnv(name: NodeName): NodeJS.ProcessEnv {
    if (!this.janusDir) return { RTC_JANUS: 'off' };
    const tmp = join(this.janusDir, name);
    mkdirSync(tmp, { recursive: true });
    chmodSync(tmp, 0o711);
    return {
      RTC_JANUS: 'on',
      // Where the masters open its control channel (AWS: the instance's private address).
      RTC_ADVERTISE_ADDRESS: `${PAIR_NET.pub[name]}:${DEFAULT_PORTS.media}`,
      RTC_MEDIA_ICE_ADDRESS: PAIR_NET.pub[name],
      // On AWS RTC_BOOT_PUBLIC_ADDRESS, the Elastic IP: whichever node is active, clients reach it there.
      RTC_PUBLIC_ADDRESS: PAIR_NET.serviceAddress,
      RTC_MEDIA_CONTROL_SECRET: this.controlSecret,
      TMPDIR: tmp,
    };
  }

  private agentEnv(name: NodeName, dir: string, leaseFile: string): NodeJS.ProcessEnv {
    const peer = peerOf(name);
    return {
      ...withoutRtcVariables(),
      RTC_STANDBY_NODE: name,
      RTC_STANDBY_ADDRESS: PAIR_NET.link[name],
      RTC_STANDBY_PEER_ADDRESS: PAIR_NET.link[peer],
      RTC_STANDBY_INTERFACE: 'ha0',
      RTC_STANDBY_PREFERRED: String(name === 'a'),
      RTC_STANDBY_FAILBACK: this.options.failback,
      RTC_STANDBY_PREEMPT_DELAY_S: String(this.options.preemptDelayS),
      RTC_STANDBY_VIRTUAL_ADDRESS: `${PAIR_NET.serviceAddress}/${PAIR_NET.prefix}`,
      RTC_STANDBY_VIRTUAL_INTERFACE: 'pub0',
      RTC_STANDBY_ADDRESS_FILE: join(this.dir, 'address-holder'),
      RTC_STANDBY_PEER_SERVICE_URL: `http://${PAIR_NET.pub[peer]}:${RUNTIME_PORT}/ready`,
      RTC_STANDBY_DIR: dir,
      RTC_SERVE_LEASE_FILE: leaseFile,
      RTC_STANDBY_MEDIA_NODE: mediaNodeOf(name),
    };
  }

  private async createNetwork(): Promise<void> {
    const { client, a, b } = this.namespaces;
    const ip = (...args: string[]) => run('ip', args);
    for (const ns of [client, a, b]) {
      await ip('netns', 'add', ns);
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    await ip('-n', client, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', client, 'addr', 'add', `${PAIR_NET.client}/${PAIR_NET.prefix}`, 'dev', 'br0');
    await ip('-n', client, 'link', 'set', 'br0', 'up');
    for (const name of NODE_NAMES) {
      const ns = this.namespaces[name];
      const port = `v${name}`;
      await ip('-n', client, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'pub0', 'netns', ns);
      await ip('-n', client, 'link', 'set', port, 'master', 'br0');
      await ip('-n', client, 'link', 'set', port, 'up');
      await ip('-n', ns, 'addr', 'add', `${PAIR_NET.pub[name]}/${PAIR_NET.prefix}`, 'dev', 'pub0');
      await ip('-n', ns, 'link', 'set', 'pub0', 'up');
    }
    await ip('-n', a, 'link', 'add', 'ha0', 'type', 'veth', 'peer', 'name', 'ha0', 'netns', b);
    for (const name of NODE_NAMES) {
      await ip(
        '-n',
        this.namespaces[name],
        'addr',
        'add',
        `${PAIR_NET.link[name]}/${PAIR_NET.prefix}`,
        'dev',
        'ha0',
      );
      await ip('-n', this.namespaces[name], 'link', 'set', 'ha0', 'up');
    }
  }

  /** Waits for the store and the runtimes to answer, and the agent to listen; throws naming what did not. */
  private async waitForNode(name: NodeName, procs: Omit<NodeProcesses, 'keepalived'>): Promise<void> {
    const ns = this.namespaces[name];
    const link = PAIR_NET.link[name];
    const checks: Array<[string, LoggedChild, () => Promise<boolean>]> = [
      [
        'store',
        procs.store,
        async () => (await this.cli(ns, 'redis-cli', ['-p', '6379', 'ping'])).includes('PONG'),
      ],
      [
        'master',
        procs.master,
        async () => (await this.statusFrom(name, `http://127.0.0.1:${RUNTIME_PORT}/live`)) === 200,
      ],
      [
        'media',
        procs.media,
        async () => (await this.statusFrom(name, `http://127.0.0.1:${DEFAULT_PORTS.media}/live`)) === 200,
      ],
      [
        'agent',
        procs.agent,
        async () =>
          (await this.statusFrom(name, `http://${link}:${STANDBY_DEFAULTS.statusPort}/status`)) === 200,
      ],
    ];
    await Promise.all(
      checks.map(([what, child, check]) =>
        waitFor(
          `node ${name}: ${what}`,
          async () => !child.hasExited() && (await check()),
          20_000,
          100,
        ).catch((err: Error) => {
          throw new Error(
            `${err.message}${child.hasExited() ? ' (it exited)' : ''}; last lines of ${child.logFile}:\n${tailOf(child.logFile)}`,
          );
        }),
      ),
    );
  }

  private async statusFrom(where: NodeName | 'client', url: string): Promise<number> {
    const out = await this.cli(this.namespaces[where], 'curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-m',
      '1',
      url,
    ]);
    return Number(out) || 0;
  }

  private async cli(ns: string, command: string, args: string[]): Promise<string> {
    try {
      return (await run('ip', ['netns', 'exec', ns, command, ...args])).stdout.trim();
    } catch (err) {
      return String((err as { stdout?: string }).stdout ?? '').trim();
    }
  }

  /** The processes in the namespace of node `where` (or the clients'), now. */
  pidsIn(where: NodeName | 'client'): number[] {
    return pidsOf(this.namespaces[where]);
  }
}

function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

function pidsOf(ns: string): number[] {
  const out = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  return out.stdout.split(/\s+/).filter(Boolean).map(Number);
}

/** This process's environment without RTC_* (each child gets exactly the variables it is given). */
function withoutRtcVariables(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('RTC_')));
}
