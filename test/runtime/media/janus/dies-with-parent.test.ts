import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { waitFor } from '../../../../local/ports';
import { diesWithParent } from '../../../../runtime/media/janus/supervisor';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('the command runs under setpriv --pdeathsig KILL when both are found, as it is otherwise', () => {
  expect(diesWithParent(['sleep', '1'])).toEqual([
    '/usr/bin/setpriv',
    '--pdeathsig',
    'KILL',
    '--',
    expect.stringMatching(/\/sleep$/),
    '1',
  ]);
  expect(diesWithParent(['not-installed-anywhere', '-F', 'x'])).toEqual([
    'not-installed-anywhere',
    '-F',
    'x',
  ]);
  expect(diesWithParent(['sleep', '1'], { setpriv: '/nonexistent/setpriv' })).toEqual(['sleep', '1']);
});

(existsSync('/usr/bin/setpriv') ? test : test.skip)(
  'dropCapabilities: the child runs with no ambient capability (Janus needs none; coturn keeps its port 443)',
  () => {
    const [command, ...args] = diesWithParent(['grep', 'CapAmb', '/proc/self/status'], {
      dropCapabilities: true,
    });
    // GIVEN a parent holding an ambient capability, as the media unit's agent does
    const withAmbient = spawnSync(
      '/usr/bin/setpriv',
      ['--inh-caps', '+net_bind_service', '--ambient-caps', '+net_bind_service', '--', command, ...args],
      { encoding: 'utf8' },
    );
    expect(withAmbient.status).toBe(0);
    expect(withAmbient.stdout.trim()).toBe('CapAmb:\t0000000000000000');
    // while without the option the capability passes on
    const [keep, ...keepArgs] = diesWithParent(['grep', 'CapAmb', '/proc/self/status']);
    const kept = spawnSync(
      '/usr/bin/setpriv',
      ['--inh-caps', '+net_bind_service', '--ambient-caps', '+net_bind_service', '--', keep, ...keepArgs],
      { encoding: 'utf8' },
    );
    expect(kept.stdout.trim()).toBe('CapAmb:\t0000000000000400');
  },
);

(existsSync('/usr/bin/setpriv') ? test : test.skip)(
  'a child started so dies when its parent is SIGKILLed (no orphan Janus after an agent crash)',
  async () => {
    // GIVEN a parent (standing in for the agent) that started `sleep 60` through diesWithParent
    const command = JSON.stringify(diesWithParent(['sleep', '60']));
    const parent = spawn(
      process.execPath,
      [
        '-e',
        `const c = require('node:child_process').spawn(...((a) => [a[0], a.slice(1)])(${command}), { stdio: 'ignore' });
         console.log(c.pid); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const childPid = await new Promise<number>((resolve) =>
      parent.stdout.once('data', (data) => resolve(Number(String(data).trim()))),
    );
    await waitFor('the child running', () => alive(childPid));

    // WHEN the parent is SIGKILLed (it runs no cleanup)
    parent.kill('SIGKILL');

    // THEN the child goes with it
    await waitFor('the child gone', () => !alive(childPid), 5_000, 20);
  },
);
