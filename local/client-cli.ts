/**
 * `npm run client -- --session demo --participant alice`: joins a session of the local cluster
 * through HAProxy with the client SDK, prints what happens (joined, reconnecting, resumed,
 * messages, room events), and sends every line typed on stdin as a message to the room.
 * Ctrl-C or end of input leaves the session.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { RtcHaAdmin } from '../runtime/client';
import { RtcHaNodeSession } from '../runtime/client/node';
import { LOCAL_DEFAULTS, localApiSecret } from './defaults';
import { printEvents } from './session-events';

const USAGE = `usage: npm run client -- [--session ID] [--participant ID] [--url URL] [--send-every MS]

  --session ID       session to join (created when missing)           default: demo
  --participant ID   who you are in it                                 default: user-<random>
  --url URL          the cluster's load balancer                       default: http://127.0.0.1:${LOCAL_DEFAULTS.port}
  --send-every MS    also send a numbered message every MS milliseconds
  RTC_API_SECRET     the cluster's REST secret                         default: the local cluster's

Lines typed on stdin are sent to everybody else in the session. Ctrl-C leaves.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      session: { type: 'string', default: 'demo' },
      participant: { type: 'string', default: `user-${Math.random().toString(36).slice(2, 7)}` },
      url: { type: 'string', default: `http://127.0.0.1:${LOCAL_DEFAULTS.port}` },
      'send-every': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const sendEvery = values['send-every'] === undefined ? undefined : Number(values['send-every']);
  if (sendEvery !== undefined && !(sendEvery >= 10))
    throw new Error('--send-every needs a number of ms >= 10');
  const base = values.url.replace(/\/+$/, '');
  const admin = new RtcHaAdmin({ baseUrl: base, secret: localApiSecret() });
  await admin.createSession(values.session);
  const { token } = await admin.createConnection(values.session, values.participant);
  const session = new RtcHaNodeSession({ url: `${base.replace(/^http/, 'ws')}/ws`, token });
  printEvents(session, (line) => process.stdout.write(line));

  const done = new Promise<number>((resolve) => {
    session.on('failed', () => resolve(1));
    const leave = () => {
      process.stderr.write('leaving the session\n');
      void session.leave().then(() => resolve(0));
    };
    process.once('SIGINT', leave);
    process.once('SIGTERM', leave);
    const input = createInterface({ input: process.stdin });
    input.on('line', (line) => {
      if (line.trim()) session.sendMessage(line);
    });
    input.once('close', leave);
  });
  await session.connect();
  let n = 0;
  const timer = sendEvery
    ? setInterval(() => session.sendMessage(`${values.participant} #${++n}`), sendEvery)
    : undefined;
  const code = await done;
  clearInterval(timer);
  return code;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`client: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
