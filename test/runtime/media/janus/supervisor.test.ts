import { existsSync, readFileSync, statSync } from 'node:fs';
import { waitFor } from '../../../../local/ports';
import { JanusAdmin, JanusClient, JanusEvent, JanusSupervisor } from '../../../../runtime/media/janus';
import { RUN_AS, TEST_ICE_ADDRESS, startJanus, testSpec } from './support';

let janus: JanusSupervisor | undefined;
afterEach(async () => {
  await janus?.stop();
  janus = undefined;
});

/** Events as they come, with when they came. */
function record(supervisor: JanusSupervisor): (JanusEvent & { at: number })[] {
  const events: (JanusEvent & { at: number })[] = [];
  supervisor.on((event) => events.push({ ...event, at: Date.now() }));
  return events;
}

test('starts janus on its ports with only VideoRoom and WebSockets, unprivileged, and answers ping', async () => {
  const spec = await testSpec();
  janus = await startJanus({ spec });
  expect(janus.readiness()).toEqual([]);
  const client = await janus.connectClient();
  await client.ping();
  client.close();

  const admin = await janus.connectAdmin();
  const info = await admin.info();
  admin.close();
  expect(info).toMatchObject({
    'server-name': 'rtc-test',
    'session-timeout': 30,
    'local-ip': TEST_ICE_ADDRESS,
    version_string: '1.1.2',
  });
  expect(Object.keys(info.plugins)).toEqual(['janus.plugin.videoroom']);
  expect(Object.keys(info.transports)).toEqual(['janus.transport.websockets']);
  expect(info.events).toEqual({});
  expect(info.loggers).toEqual({});

  const status = readFileSync(`/proc/${janus.pid}/status`, 'utf8');
  if (RUN_AS) expect(status).toMatch(/^Uid:\t65534\t65534\t65534\t65534$/m);
  expect(statSync(spec.configDir).mode & 0o777).toBe(0o700);
  await janus.stop();
  expect(existsSync(spec.configDir)).toBe(false);
});

test('the admin API answers ping and info without the secret, everything else only with it; the Janus API needs its own', async () => {
  janus = await startJanus();
  const anonymous = await JanusAdmin.connect(janus.adminUrl, undefined);
  const wrong = await JanusAdmin.connect(janus.adminUrl, 'not-the-admin-secret');
  const admin = await janus.connectAdmin();
  try {
    await anonymous.ping();
    await expect(anonymous.info()).resolves.toMatchObject({ name: 'Janus WebRTC Server' });
    await expect(admin.info()).resolves.toMatchObject({ name: 'Janus WebRTC Server' });
    await expect(admin.listSessions()).resolves.toEqual([]);
    await expect(anonymous.listSessions()).rejects.toMatchObject({ code: 403 });
    await expect(wrong.listSessions()).rejects.toMatchObject({ code: 403 });
    await expect(wrong.listRooms()).rejects.toMatchObject({ code: 403 });
  } finally {
    for (const socket of [anonymous, wrong, admin]) socket.close();
  }
  const outsider = await JanusClient.connect(janus.apiUrl, 'not-the-api-secret');
  await expect(outsider.createSession()).rejects.toMatchObject({ code: 403 });
  outsider.close();
});

test('kill -9 is noticed within milliseconds, janus restarts with backoff and stays out of placement a while', async () => {
  const restart = {
    initialDelayMs: 100,
    factor: 4,
    maxDelayMs: 10_000,
    stableAfterMs: 60_000,
    quarantineMs: 1_500,
  };
  janus = await startJanus({ restart });
  const supervisor = janus;
  const events = record(supervisor);

  const firstPid = supervisor.pid as number;
  const killedAt = Date.now();
  process.kill(firstPid, 'SIGKILL');
  await waitFor('down', () => events.some((e) => e.type === 'down'), 2_000, 2);
  const down = events[0];
  expect(down).toMatchObject({ type: 'down', pid: firstPid, restartInMs: 100 });
  expect(down.at - killedAt).toBeLessThan(100);
  expect(supervisor.readiness()).toEqual(['janus down (restarting)']);

  await waitFor('up again', () => events.some((e) => e.type === 'up'), 10_000);
  expect(events[1]).toMatchObject({ type: 'up', restarts: 1 });
  expect(events[1].at - down.at).toBeGreaterThanOrEqual(100);
  expect(supervisor.pid).not.toBe(firstPid);
  expect(supervisor.recentlyRestarted).toBe(true);
  expect(supervisor.readiness()).toEqual(['janus restarted recently']);
  const client = await supervisor.connectClient();
  await client.ping();
  client.close();

  // A second crash soon after: the next restart waits longer.
  process.kill(supervisor.pid as number, 'SIGKILL');
  await waitFor('second down', () => events.length >= 3, 2_000, 2);
  expect(events[2]).toMatchObject({ type: 'down', restartInMs: 400 });
  await waitFor('up a second time', () => events.length >= 4, 10_000);
  expect(events[3]).toMatchObject({ type: 'up', restarts: 2 });
  expect(events[3].at - events[2].at).toBeGreaterThanOrEqual(400);

  await waitFor('out of quarantine', () => supervisor.readiness().length === 0, 3_000);
});

test('a hung janus (SIGSTOP) fails its checks, is killed and restarted', async () => {
  janus = await startJanus({ healthIntervalMs: 100, healthTimeoutMs: 200, unhealthyAfter: 2 });
  const supervisor = janus;
  const events = record(supervisor);
  const pid = supervisor.pid as number;
  process.kill(pid, 'SIGSTOP');
  await waitFor('down', () => events.some((e) => e.type === 'down'), 3_000);
  expect(events[0]).toMatchObject({ type: 'down', pid, reason: 'unresponsive' });
  await waitFor('up again', () => events.some((e) => e.type === 'up'), 10_000);
  expect(existsSync(`/proc/${pid}`)).toBe(false);
});

test('stop() ends janus with SIGTERM and restarts nothing', async () => {
  janus = await startJanus();
  const supervisor = janus;
  const events = record(supervisor);
  const pid = supervisor.pid as number;
  await supervisor.stop();
  expect(existsSync(`/proc/${pid}`)).toBe(false);
  expect(supervisor.pid).toBeUndefined();
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(events).toEqual([]);
});

test('start() rejects with the reason when janus cannot run', async () => {
  const spec = await testSpec();
  await expect(startJanus({ spec, binary: 'janus-not-installed' })).rejects.toThrow(
    /janus exited \(exit code null\) before answering:\nspawn janus-not-installed E[A-Z]+$/,
  );
  expect(existsSync(spec.configDir)).toBe(false);
  if (RUN_AS) {
    expect(() => new JanusSupervisor({ spec, log: { info() {}, warn() {}, error() {} } })).toThrow(
      /must not run as root/,
    );
  }
});
