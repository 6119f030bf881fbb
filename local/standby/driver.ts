/**
 * The standby pair's clients and observer, run inside the pair's client namespace (StandbyPair.
 * startDriver): participants join through the service address with the SDK and exchange numbered
 * messages throughout (the chaos suite's Workload), while a sampler records which node holds the
 * address and which runtime is ready, every SAMPLE_MS.
 *
 * stdin, one JSON per line: {"cmd":"stop"} ends the run. stdout, one JSON per line: {"event":"ready"}
 * once every session joined, {"event":"serving",...} at each change of who serves, and last
 * {"event":"report",...}: the workload's report, the timeline, and the samples in which both nodes
 * served (held the address and were ready throughout the sample).
 */
import { execFile } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { RtcHaAdmin } from '../../runtime/client';
import { probe } from '../../runtime/standby/probe';
import { Workload } from '../chaos/workload';

const run = promisify(execFile);
const SAMPLE_MS = 100;
const PROBE_TIMEOUT_MS = 300;

export interface DriverNode {
  readonly name: string;
  readonly namespace: string;
  /** The node's runtime /ready on its client-side address. */
  readonly readyUrl: string;
}

export interface DriverConfig {
  readonly serviceUrl: string;
  readonly serviceAddress: string;
  readonly apiSecret: string;
  readonly runId: string;
  readonly sessions: number;
  readonly messageIntervalMs: number;
  readonly nodes: readonly DriverNode[];
}

/** One sample: which nodes held the address and which were ready (before and after reading the address). */
export interface Sample {
  readonly t: number;
  readonly holders: string[];
  readonly ready: string[];
  /** Held the address and answered ready at both reads. */
  readonly serving: string[];
}

async function sample(config: DriverConfig): Promise<Sample> {
  const readyNow = () =>
    Promise.all(
      config.nodes.map(async (n) => {
        const r = await probe(n.readyUrl, PROBE_TIMEOUT_MS);
        return typeof r === 'object' && r.status === 200;
      }),
    );
  const t = Date.now();
  const before = await readyNow();
  const held = await Promise.all(
    config.nodes.map(async (n) => {
      const { stdout } = await run('ip', ['-n', n.namespace, '-o', '-4', 'addr', 'show', 'dev', 'pub0']);
      return stdout.includes(` ${config.serviceAddress}/`);
    }),
  );
  const after = await readyNow();
  const names = (flags: boolean[]) => config.nodes.filter((_, i) => flags[i]).map((n) => n.name);
  return {
    t,
    holders: names(held),
    ready: names(after),
    serving: names(config.nodes.map((_, i) => held[i] && before[i] && after[i])),
  };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.STANDBY_DRIVER ?? '') as DriverConfig;
  const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
  let stopping = false;
  const stopped = new Promise<void>((resolve) =>
    createInterface({ input: process.stdin }).on('line', (line) => {
      if ((JSON.parse(line) as { cmd?: string }).cmd === 'stop') resolve();
    }),
  );

  const timeline: Sample[] = [];
  const overlaps: Sample[] = [];
  const sampler = (async () => {
    let last = '';
    while (!stopping) {
      const s = await sample(config);
      if (s.serving.length > 1) overlaps.push(s);
      const key = JSON.stringify([s.serving, s.holders, s.ready]);
      if (key !== last) {
        last = key;
        timeline.push(s);
        emit({ event: 'serving', ...s });
      }
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
  })();

  const workload = new Workload({
    baseUrl: config.serviceUrl,
    apiSecret: config.apiSecret,
    runId: config.runId,
    participantsPerSession: 2,
    messageIntervalMs: config.messageIntervalMs,
    gapThresholdMs: 1_000,
  });
  await workload.addSessions(config.sessions);
  const joined = workload.sessionIds().length;
  if (joined < config.sessions) {
    // The workload keeps no error of a failed join: say what the service answered then.
    const ready = await probe(`${config.serviceUrl}/ready`, PROBE_TIMEOUT_MS);
    process.stderr.write(
      `${config.sessions - joined} sessions failed to join; the service's /ready: ${JSON.stringify(ready)}\n`,
    );
  }
  workload.startSending();
  emit({ event: 'ready', sessions: workload.sessionIds().length });

  await stopped;
  workload.stopSending();
  const report = await workload.settle(20_000);
  stopping = true;
  await sampler;
  workload.close();
  // Each session holds a place on a media node until deleted: runs after this one need theirs.
  const admin = new RtcHaAdmin({ baseUrl: config.serviceUrl, secret: config.apiSecret });
  await Promise.all(workload.sessionIds().map((id) => admin.deleteSession(id).catch(() => undefined)));
  emit({
    event: 'report',
    report,
    timeline,
    overlaps: overlaps.length,
    overlapSamples: overlaps.slice(0, 5),
  });
  process.exit(0);
}

void main().catch((err: unknown) => {
  process.stderr.write(`standby driver failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
