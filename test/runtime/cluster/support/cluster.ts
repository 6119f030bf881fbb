import { NodeProcess, startNodeProcess } from '../../../../local/node-process';
import { API_SECRET, Api, TestRegistry, startRegistry } from '../../master/support/harness';

/** Short timings: failures show within a second or two (the defaults are 1 s / 3 s). */
export const CLUSTER_ENV = {
  RTC_API_SECRET: API_SECRET,
  RTC_HEARTBEAT_INTERVAL_MS: '200',
  RTC_HEARTBEAT_TTL_MS: '600',
  RTC_RECONNECT_WINDOW_MS: '15000',
  RTC_DRAIN_DEADLINE_MS: '5000',
};

/**
 * A cluster of real processes on loopback: redis-server, one media agent and masters, each
 * master a child process started from its bundle (local/node-process).
 */
export class ProcessCluster {
  readonly masters: NodeProcess[] = [];
  private readonly processes: NodeProcess[] = [];

  private constructor(
    readonly registry: TestRegistry,
    readonly media: NodeProcess,
  ) {
    this.processes.push(media);
  }

  static async start(masters: number): Promise<ProcessCluster> {
    const registry = await startRegistry();
    const media = await startNodeProcess({
      kind: 'media',
      env: { ...CLUSTER_ENV, RTC_REDIS_URL: registry.server.url },
    });
    const cluster = new ProcessCluster(registry, media);
    await Promise.all(Array.from({ length: masters }, () => cluster.addMaster()));
    return cluster;
  }

  async addMaster(env: Record<string, string> = {}): Promise<NodeProcess> {
    const master = await startNodeProcess({
      kind: 'master',
      env: { ...CLUSTER_ENV, RTC_REDIS_URL: this.registry.server.url, ...env },
    });
    this.masters.push(master);
    this.processes.push(master);
    return master;
  }

  api(master: NodeProcess = this.masters[0]): Api {
    return new Api(master.url);
  }

  /** Processes that exited on their own with a failure (a crash); those killed by a test do not count. */
  async crashed(): Promise<string[]> {
    const exits = await Promise.all(
      this.processes.map(async (p) => (p.hasExited() && (await p.exited).code ? [p.nodeId] : [])),
    );
    return exits.flat();
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop(2_000)));
    await this.registry.stop();
  }
}
