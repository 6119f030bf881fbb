/**
 * `npm run cluster`: the HA cluster on one machine. Prints the URLs, a live status table and the
 * watchdog's decisions as they happen, and each process's log to a folder it names. Ctrl-C
 * (SIGINT) or SIGTERM stops every child and removes what it created.
 */
import { parseArgs } from 'node:util';
import { Cluster, ClusterStartError, startCluster } from './cluster';
import { LOCAL_DEFAULTS } from './defaults';
import { EventFilter } from './events';
import { defaultIceAddress, janusInstalled } from './media';
import { StatusView } from './status-table';

const USAGE = `usage: npm run cluster -- [options]

  --masters N        signaling masters                        default: ${LOCAL_DEFAULTS.masters}
  --media N          media agents                             default: ${LOCAL_DEFAULTS.media}
  --redis-url URL    use this Redis (keys under a prefix of their own, removed on exit)
                     instead of starting redis-server
  --port N           HAProxy frontend (signaling and REST)    default: ${LOCAL_DEFAULTS.port} (0: a free port)
  --stats-port N     HAProxy stats page                       default: ${LOCAL_DEFAULTS.statsPort} (0: a free port)
  --web-port N       the web page (video, nodes, kill buttons) default: ${LOCAL_DEFAULTS.webPort} (0: a free port)
  --ice-address IP   where Janus takes media (not loopback)   default: the first non-internal IPv4
  --logs DIR         write the logs there and keep them       default: a temporary folder, removed on exit
  --keep-logs        keep the temporary folder on exit
  --refresh-ms N     status refresh interval                  default: 1000
  RTC_API_SECRET     the REST secret                          default: the local cluster's (loopback only)`;

/** Deadline for a clean stop; past it the runner exits anyway. */
const STOP_DEADLINE_MS = 20_000;

function integer(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min)
    throw new ClusterStartError(`--${name} needs an integer >= ${min}, got "${text}"`);
  return value;
}

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      masters: { type: 'string' },
      media: { type: 'string' },
      'redis-url': { type: 'string' },
      port: { type: 'string' },
      'stats-port': { type: 'string' },
      'web-port': { type: 'string' },
      'ice-address': { type: 'string' },
      logs: { type: 'string' },
      'keep-logs': { type: 'boolean', default: false },
      'refresh-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const media = mediaSetting(values['ice-address']);
  return {
    help: values.help,
    refreshMs: integer('refresh-ms', values['refresh-ms'], 1_000, 100),
    mediaOff: media.off,
    options: {
      masters: integer('masters', values.masters, LOCAL_DEFAULTS.masters, 1),
      media: integer('media', values.media, LOCAL_DEFAULTS.media, 0),
      redisUrl: values['redis-url'],
      port: integer('port', values.port, LOCAL_DEFAULTS.port, 0),
      statsPort: integer('stats-port', values['stats-port'], LOCAL_DEFAULTS.statsPort, 0),
      webPort: integer('web-port', values['web-port'], LOCAL_DEFAULTS.webPort, 0),
      iceAddress: media.iceAddress,
      logDir: values.logs,
      keepLogs: values['keep-logs'] || values.logs !== undefined,
    },
  };
}

/** The ICE address to run Janus with, or why media is off. */
function mediaSetting(flag: string | undefined): { iceAddress?: string; off?: string } {
  if (!janusInstalled()) return { off: 'janus not found: install it (Debian: apt-get install -y janus)' };
  const iceAddress = flag ?? defaultIceAddress();
  if (iceAddress === undefined)
    return {
      off: 'this machine has no non-loopback IPv4 address, and Janus never gathers ICE candidates on loopback (pass --ice-address)',
    };
  return { iceAddress };
}

function header(cluster: Cluster, mediaOff: string | undefined): string[] {
  const port = new URL(cluster.haproxy.url).port;
  return [
    'rtc-ha local cluster (Ctrl-C stops it)',
    `  signaling  ${cluster.urls.signaling}`,
    `  REST       ${cluster.urls.rest}`,
    `  HAProxy    ${cluster.urls.stats}`,
    `  web page   ${cluster.urls.web} (join a session with your camera; kill, hang or drain nodes)`,
    cluster.iceAddress
      ? `  media      Janus beside each media agent, ICE on ${cluster.iceAddress}`
      : `  media      OFF: ${mediaOff}`,
    `  Redis      ${cluster.redisUrl} (key prefix ${cluster.keyPrefix})`,
    `  logs       ${cluster.logDir}`,
    `  a client:  npm run client -- --session demo --participant alice${port === String(LOCAL_DEFAULTS.port) ? '' : ` --url ${cluster.haproxy.url}`}`,
    '  failover:  kill -9 <a master PID below> (or kill -STOP) and watch the client resume',
  ];
}

async function main(argv: string[]): Promise<number> {
  const { help, refreshMs, mediaOff, options } = parse(argv);
  if (help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let signalled: string | undefined;
  const stop = new Promise<string>((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      signalled = signal;
      resolve(signal);
    };
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });

  const filter = new EventFilter();
  const view = new StatusView(process.stdout);
  process.stderr.write(
    `starting ${options.masters} masters, ${options.media} media agents, HAProxy and ${options.redisUrl ? 'the watchdog' : 'redis-server and the watchdog'}...\n`,
  );
  const cluster = await startCluster({
    ...options,
    onEvent: (event) => {
      const text = filter.accept(event);
      if (text !== undefined) view.event(text);
    },
  }).catch((err: unknown) => {
    // Ctrl-C reaches the children too (one process group): a start cut short is no failure
    if (signalled) throw new ClusterStartError(`${signalled} while starting; stopped what had started`);
    throw err;
  });
  const lines = header(cluster, mediaOff);
  const draw = async () => view.render(lines, await cluster.status());
  await draw();
  const timer = setInterval(() => void draw().catch(() => undefined), refreshMs);
  const reason = await stop;
  clearInterval(timer);
  process.stderr.write(`\n${reason}: stopping every process...\n`);
  const deadline = setTimeout(() => {
    process.stderr.write(`not stopped after ${STOP_DEADLINE_MS} ms; exiting anyway\n`);
    process.exit(1);
  }, STOP_DEADLINE_MS);
  await cluster.stop();
  clearTimeout(deadline);
  process.stderr.write(
    options.keepLogs ? `stopped; logs kept in ${cluster.logDir}\n` : 'stopped; removed the run folder\n',
  );
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      process.stderr.write(`cluster: ${message}\n`);
      process.exit(err instanceof ClusterStartError ? 2 : 1);
    },
  );
}
