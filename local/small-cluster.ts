/**
 * The small cluster of the demo and the benchmarks (bench/failover.ts, bench/capacity.ts): redis-server,
 * masters and one media agent as real processes on loopback, with no HAProxy and no watchdog, so
 * clients list the masters' URLs themselves.
 */
import { NodeProcess, startNodeProcess } from './node-process';
import { RedisServer, startRedisServer } from './redis-server';

/** redis-server, masters and one media agent as real processes: the cluster of the demo and the benchmarks. */
export interface SmallCluster {
  readonly redis: RedisServer;
  readonly masters: readonly NodeProcess[];
  readonly media: NodeProcess;
  readonly apiSecret: string;
  /** Runs `action` (closing clients, killing load generators) first thing in stop(). */
  onStop(action: () => void): void;
  /**
   * Stops the nodes, then redis-server (so the nodes drain against a live registry). A node gets
   * 1 s: a media agent with sessions placed on it and no other to move them to drains no faster.
   */
  stop(): Promise<void>;
}

/**
 * Starts redis-server, `masters` masters (`master-1`, ...) and one media agent (`media-1`), all on
 * loopback, and resolves once every node is ready; on any failure stops what started and throws.
 * `env` adds RTC_* variables for every node.
 */
export async function startSmallCluster(
  masters: number,
  env: Readonly<Record<string, string>> = {},
): Promise<SmallCluster> {
  const apiSecret = 'rtc-ha-small-cluster-secret-0123';
  const redis = await startRedisServer();
  const nodeEnv = { RTC_REDIS_URL: redis.url, RTC_API_SECRET: apiSecret, ...env };
  const started = await Promise.allSettled([
    ...Array.from({ length: masters }, (_, i) =>
      startNodeProcess({ kind: 'master', env: { ...nodeEnv, RTC_NODE_ID: `master-${i + 1}` } }),
    ),
    startNodeProcess({ kind: 'media', env: { ...nodeEnv, RTC_NODE_ID: 'media-1' } }),
  ]);
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const actions: (() => void)[] = [];
  const stop = async () => {
    for (const action of actions.splice(0)) action();
    await Promise.all(nodes.map((node) => node.stop(1_000)));
    await redis.stop();
  };
  const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) {
    await stop();
    throw failure.reason;
  }
  return {
    redis,
    masters: nodes.slice(0, masters),
    media: nodes[masters],
    apiSecret,
    onStop: (action) => actions.push(action),
    stop,
  };
}

/**
 * The entry of the demo and the benchmarks: starts a small cluster, runs `body` on it, stops every
 * child whatever happens, and exits 0 when `body` resolves true, 1 when it resolves false or throws.
 * `body` registers what else to stop with cluster.onStop.
 */
export async function runWithSmallCluster(
  name: string,
  masters: number,
  env: Readonly<Record<string, string>>,
  body: (cluster: SmallCluster) => Promise<boolean>,
): Promise<never> {
  let code = 1;
  let cluster: SmallCluster | undefined;
  try {
    cluster = await startSmallCluster(masters, env);
    code = (await body(cluster)) ? 0 : 1;
  } catch (err) {
    process.stderr.write(`${name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
  } finally {
    await cluster?.stop();
  }
  process.exit(code);
}

/** The WebSocket URL of a master. */
export const wsUrl = (node: NodeProcess): string => `${node.url.replace(/^http/, 'ws')}/ws`;
