import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BOOTSTRAP_SCRIPT } from '../../../constructs/node-runtime';

/**
 * The bootstrap script runs for real, with every path under a scratch RTC_HA_ROOT and the commands it
 * would reach AWS or the system through (curl, aws, systemctl, dnf, useradd) replaced by stubs on PATH
 * that answer from files and log their calls.
 */
const STUBS: Record<string, string> = {
  curl: `#!/usr/bin/env bash
out=""; url=""
while (($#)); do case "$1" in -o) out=$2; shift 2 ;; -H|-X) shift 2 ;; -*) shift ;; *) url=$1; shift ;; esac; done
echo "curl $url" >>"$STUB_LOG"
case "$url" in
  */api/token) printf token ;;
  */meta-data/instance-id) printf i-0123456789abcdef0 ;;
  */meta-data/local-ipv4) printf 10.40.1.23 ;;
  */meta-data/public-ipv4) printf 203.0.113.7 ;;
  */ready) [[ -f "$STUB_DIR/ready" ]] ;;
  https://nodejs.org/*) cp "$STUB_DIR/dist/$(basename "$url")" "$out" ;;
  *) exit 22 ;;
esac`,
  aws: `#!/usr/bin/env bash
echo "aws $*" >>"$STUB_LOG"
case "$1 $2" in
  "ssm get-parameter") cat "$STUB_DIR/settings" ;;
  "secretsmanager get-secret-value") while [[ $1 != --secret-id ]]; do shift; done; [[ $2 != *missing* ]] && printf 'value-of-%s' "\${2##*:}" ;;
esac`,
  systemctl: '#!/usr/bin/env bash\necho "systemctl $*" >>"$STUB_LOG"',
  dnf: '#!/usr/bin/env bash\necho "dnf $*" >>"$STUB_LOG"',
  useradd: '#!/usr/bin/env bash\necho "useradd $*" >>"$STUB_LOG"',
};

interface Run {
  status: number | null;
  stderr: string;
  log: string[];
}

let root: string;
let stubs: string;

function run(args: string[]): Run {
  const log = path.join(stubs, 'log');
  fs.writeFileSync(log, '');
  const result = spawnSync('bash', [BOOTSTRAP_SCRIPT, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      PATH: `${stubs}/bin:${process.env.PATH}`,
      RTC_HA_ROOT: root,
      STUB_DIR: stubs,
      STUB_LOG: log,
    },
  });
  return {
    status: result.status,
    stderr: result.stderr,
    log: fs.readFileSync(log, 'utf8').trim().split('\n'),
  };
}

function fakeNodeRelease(version: string, arch: string, checksum?: string): void {
  const name = `node-v${version}-linux-${arch}`;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'node-release-'));
  fs.mkdirSync(path.join(work, name, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(work, name, 'bin', 'node'), `#!/bin/sh\necho v${version}\n`, { mode: 0o755 });
  fs.mkdirSync(path.join(stubs, 'dist'), { recursive: true });
  const tarball = path.join(stubs, 'dist', `${name}.tar.gz`);
  spawnSync('tar', ['-czf', tarball, '-C', work, name]);
  const sum = checksum ?? createHash('sha256').update(fs.readFileSync(tarball)).digest('hex');
  fs.writeFileSync(
    path.join(stubs, 'dist', 'SHASUMS256.txt'),
    `${'0'.repeat(64)}  other.tar.gz\n${sum}  ${name}.tar.gz\n`,
  );
}

const ARCH = os.arch() === 'arm64' ? 'arm64' : 'x64';
const SETTINGS =
  'RTC_PORT=9090\nRTC_KEY_PREFIX=rtc\nRTC_DRAIN_DEADLINE_MS=45000\nRTC_REDIS_URL=rediss://store.example:6380\n';
const CONFIGURE = [
  'configure',
  '--role',
  'media',
  '--region',
  'eu-west-1',
  '--settings-parameter',
  'Settings',
];

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'rtc-ha-root-'));
  stubs = fs.mkdtempSync(path.join(os.tmpdir(), 'rtc-ha-stubs-'));
  fs.mkdirSync(path.join(stubs, 'bin'));
  for (const [name, body] of Object.entries(STUBS)) {
    fs.writeFileSync(path.join(stubs, 'bin', name), `${body}\n`, { mode: 0o755 });
  }
  fs.writeFileSync(path.join(stubs, 'settings'), SETTINGS);
  fs.writeFileSync(path.join(stubs, 'bundle.js'), 'console.log("rtc-ha");\n');
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(stubs, { recursive: true, force: true });
});

describe('rtc-ha-node.sh', () => {
  it('passes shellcheck', () => {
    const result = spawnSync('shellcheck', ['--severity=style', BOOTSTRAP_SCRIPT], { encoding: 'utf8' });
    expect(result.error).toBeUndefined();
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });

  describe('install', () => {
    const install = ['install', '--role', 'master', '--bundle', '', '--node-version', '24.21.0'];
    const withBundle = () => install.map((a) => (a === '' ? path.join(stubs, 'bundle.js') : a));

    it('installs the pinned Node.js after checking its checksum, the bundle and an enabled unit', () => {
      // GIVEN a release whose checksum matches
      fakeNodeRelease('24.21.0', ARCH);
      // WHEN
      const result = run(withBundle());
      // THEN
      expect(result.stderr).toContain('installed the master runtime with Node.js v24.21.0');
      expect(result.status).toBe(0);
      expect(fs.readlinkSync(path.join(root, 'opt/rtc-ha/node'))).toBe(
        path.join(root, 'opt/rtc-ha/node-v24.21.0'),
      );
      expect(fs.readFileSync(path.join(root, 'opt/rtc-ha/app/main.js'), 'utf8')).toContain('rtc-ha');
      const unit = fs.readFileSync(path.join(root, 'etc/systemd/system/rtc-ha.service'), 'utf8');
      expect(unit).toContain('Restart=on-failure');
      expect(unit).toContain(`EnvironmentFile=${root}/etc/rtc-ha/rtc-ha.env`);
      expect(unit).toContain('User=rtc-ha');
      expect(result.log).toEqual(
        expect.arrayContaining(['dnf install -y aws-cfn-bootstrap', 'systemctl enable rtc-ha.service']),
      );
      expect(result.log).not.toContain('systemctl restart rtc-ha.service');
    });

    it('skips the download when that Node.js is already installed', () => {
      fakeNodeRelease('24.21.0', ARCH);
      run(withBundle());
      const again = run(withBundle());
      expect(again.status).toBe(0);
      expect(again.log.filter((l) => l.startsWith('curl'))).toEqual([]);
    });

    it('refuses a tarball whose checksum does not match', () => {
      fakeNodeRelease('24.21.0', ARCH, 'f'.repeat(64));
      const result = run(withBundle());
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('does not match SHASUMS256.txt');
      expect(fs.existsSync(path.join(root, 'opt/rtc-ha/node'))).toBe(false);
    });

    it.each([
      [['install', '--role', 'edge'], /--role must be master or media/],
      [
        ['install', '--role', 'master', '--bundle', '/nonexistent'],
        /--bundle must name the runtime bundle file/,
      ],
      [['nonsense'], /usage/],
    ])('rejects %j', (args, message) => {
      const result = run(args);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(message);
    });
  });

  describe('configure', () => {
    beforeEach(() => {
      fs.mkdirSync(path.join(root, 'etc/systemd/system'), { recursive: true });
      fs.writeFileSync(path.join(root, 'etc/systemd/system/rtc-ha.service'), '[Service]\n');
    });

    it('writes the environment file from IMDSv2, the settings parameter and the secrets, then starts', () => {
      // GIVEN a node that turns ready
      fs.writeFileSync(path.join(stubs, 'ready'), '');
      // WHEN
      const result = run([...CONFIGURE, '--secret', 'RTC_API_SECRET=arn:secret:api', '--wait-ready', '5']);
      // THEN
      expect(result.stderr).toContain('ready on port 9090');
      expect(result.status).toBe(0);
      const envFile = path.join(root, 'etc/rtc-ha/rtc-ha.env');
      expect(fs.readFileSync(envFile, 'utf8')).toBe(
        [
          'RTC_NODE_ID=i-0123456789abcdef0',
          'RTC_INSTANCE_ID=i-0123456789abcdef0',
          'RTC_LISTEN_HOST=0.0.0.0',
          'RTC_ADVERTISE_ADDRESS=10.40.1.23',
          'RTC_PUBLIC_ADDRESS=203.0.113.7',
          'RTC_PORT=9090',
          'RTC_KEY_PREFIX=rtc',
          'RTC_DRAIN_DEADLINE_MS=45000',
          'RTC_REDIS_URL=rediss://store.example:6380',
          'RTC_API_SECRET=value-of-api',
          '',
        ].join('\n'),
      );
      expect(fs.statSync(envFile).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(path.join(root, 'etc/systemd/system/rtc-ha.service.d/drain.conf'), 'utf8')).toBe(
        '[Service]\nTimeoutStopSec=55s\n',
      );
      expect(result.log).toEqual(
        expect.arrayContaining([
          'aws ssm get-parameter --region eu-west-1 --name Settings --query Parameter.Value --output text',
          'systemctl restart rtc-ha.service',
        ]),
      );
    });

    it('gives masters no public address', () => {
      const result = run([
        'configure',
        '--role',
        'master',
        '--region',
        'eu-west-1',
        '--settings-parameter',
        'S',
      ]);
      expect(result.status).toBe(0);
      expect(fs.readFileSync(path.join(root, 'etc/rtc-ha/rtc-ha.env'), 'utf8')).not.toContain(
        'RTC_PUBLIC_ADDRESS',
      );
    });

    it('fails when the node does not turn ready in time', () => {
      const result = run([...CONFIGURE, '--wait-ready', '1']);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('GET /ready on port 9090 did not answer 200 within 1s');
    });

    it('fails, leaving no environment file, when a secret cannot be read', () => {
      const result = run([...CONFIGURE, '--secret', 'RTC_API_SECRET=arn:missing']);
      expect(result.status).not.toBe(0);
      expect(fs.readdirSync(path.join(root, 'etc/rtc-ha'))).toEqual([]);
    });

    it.each([
      ['a line without =', 'RTC_PORT\n', /settings line 'RTC_PORT' is not NAME=VALUE/],
      ['a variable outside RTC_*', 'PATH=/tmp\n', /invalid variable name 'PATH'/],
    ])('refuses settings with %s', (_, settings, message) => {
      fs.writeFileSync(path.join(stubs, 'settings'), settings);
      const result = run(CONFIGURE);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(message);
    });

    it.each([
      [['configure', '--role', 'media'], /--region and --settings-parameter are required/],
      [[...CONFIGURE, '--wait-ready', 'soon'], /--wait-ready must be a number of seconds/],
    ])('rejects %j', (args, message) => {
      const result = run(args);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(message);
    });

    it('needs install first', () => {
      fs.rmSync(path.join(root, 'etc/systemd/system/rtc-ha.service'));
      expect(run(CONFIGURE).stderr).toMatch(/run '.* install' first/);
    });
  });
});
