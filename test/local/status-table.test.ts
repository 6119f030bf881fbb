import { spawn } from 'node:child_process';
import type { NodeView } from '../../runtime/contract';
import {
  StatusView,
  formatTable,
  linuxProcessState,
  statusRows,
  type StatusNode,
} from '../../local/status-table';
import { waitFor } from '../../local/ports';

const master1: StatusNode = {
  nodeId: 'master-1',
  instanceId: 'local-master-1',
  role: 'master',
  port: 4001,
  pid: 11,
};
const media1: StatusNode = {
  nodeId: 'media-1',
  instanceId: 'local-media-1',
  role: 'media',
  port: 5001,
  pid: 12,
};

function view(
  node: { nodeId: string; role: 'master' | 'media'; port: number },
  ageMs: number,
  expired = false,
) {
  return {
    identity: {
      nodeId: node.nodeId,
      role: node.role,
      instanceId: `local-${node.nodeId}`,
      address: `127.0.0.1:${node.port}`,
      version: 'test',
      startedAt: 0,
    },
    lastHeartbeatAt: 1_000,
    heartbeatAgeMs: ageMs,
    expired,
    live: expired
      ? undefined
      : { state: 'active', load: { cpu: 0.1, sessions: 3, connections: 7, capacity: 100 } },
  } as NodeView;
}

describe('statusRows', () => {
  test('GIVEN fleet, registry and HAProxy views THEN one row per node with each column filled', () => {
    const rows = statusRows(
      [master1, media1],
      [view(master1, 420), view(media1, 3_200, true)],
      [{ slot: 'slot1', key: 'master-1', status: 'UP', check: 'L7OK', connections: 7 }],
      () => 'running',
    );
    expect(rows).toEqual([
      {
        nodeId: 'master-1',
        role: 'master',
        pid: '11',
        port: '4001',
        process: 'running',
        registry: 'active',
        lb: 'UP',
        sessions: '3',
        connections: '7',
        heartbeat: '0.4s',
      },
      {
        nodeId: 'media-1',
        role: 'media',
        pid: '12',
        port: '5001',
        process: 'running',
        registry: 'stale',
        lb: '-',
        sessions: '-',
        connections: '-',
        heartbeat: '3.2s',
      },
    ]);
  });

  test('GIVEN the registry or HAProxy unreachable THEN their columns say unknown', () => {
    const [row] = statusRows([master1], undefined, undefined, () => 'running');
    expect(row).toMatchObject({ registry: '?', lb: '?', heartbeat: '-' });
  });

  test('GIVEN a replaced node still in the registry THEN it is listed as gone, until it is old', () => {
    const old = { nodeId: 'master-0', role: 'master' as const, port: 4000 };
    const ancient = { nodeId: 'master-x', role: 'master' as const, port: 3999 };
    const rows = statusRows(
      [master1],
      [view(master1, 10), view(old, 5_000, true), view(ancient, 60_000, true)],
      [],
      () => 'running',
    );
    expect(rows.map((r) => `${r.nodeId}:${r.process}:${r.registry}:${r.port}`)).toEqual([
      expect.stringMatching(/^master-1:/),
      'master-0:gone:stale:4000',
    ]);
  });
});

describe('linuxProcessState', () => {
  test('tells running, stopped (SIGSTOP) and exited apart', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const pid = child.pid!;
      expect(linuxProcessState(pid)).toBe('running');
      child.kill('SIGSTOP');
      await waitFor('stopped', () => linuxProcessState(pid) === 'stopped', 5_000);
      child.kill('SIGKILL');
      await exited;
      expect(linuxProcessState(pid)).toBe('exited');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('StatusView', () => {
  const rows = statusRows([master1], [view(master1, 10)], [], () => 'running');
  const clock = () => new Date('2030-01-01T10:00:00.123Z');

  test('on a terminal: redraws header, table and recent events in place', () => {
    const out: string[] = [];
    const status = new StatusView({ isTTY: true, write: (t) => out.push(t) }, clock, 2);
    status.event('one');
    status.event('two');
    status.event('three');
    status.render(['signaling ws://x'], rows);
    const screen = out.join('');
    expect(screen.startsWith('\x1b[H\x1b[2J')).toBe(true);
    expect(screen).toContain('signaling ws://x');
    expect(screen).toContain(formatTable(rows)[1]);
    expect(screen).toContain('10:00:00.123 three');
    expect(screen).not.toContain(' one'); // only the latest `keep` events
  });

  test('elsewhere: events print at once, the table only when a state changed, no escape codes', () => {
    const out: string[] = [];
    const status = new StatusView({ isTTY: false, write: (t) => out.push(t) }, clock);
    status.render(['signaling ws://x'], rows);
    status.render(
      ['signaling ws://x'],
      statusRows([master1], [view(master1, 900)], [], () => 'running'),
    ); // only the age changed
    status.event('watchdog flag master-1');
    status.render(
      ['signaling ws://x'],
      statusRows([master1], [view(master1, 4_000, true)], [], () => 'running'),
    );
    const text = out.join('');
    expect(text).not.toContain('\x1b');
    expect(text.match(/signaling ws:\/\/x/g)).toHaveLength(1);
    expect(text.match(/NODE/g)).toHaveLength(2);
    expect(text).toContain('10:00:00.123 watchdog flag master-1\n');
  });
});

describe('formatTable', () => {
  test('aligns columns under their titles', () => {
    const [title, line] = formatTable(statusRows([master1], [view(master1, 10)], [], () => 'running'));
    expect(title.indexOf('PROCESS')).toBe(line.indexOf('running'));
    expect(title.indexOf('HEARTBEAT')).toBe(line.indexOf('0.0s'));
  });
});
