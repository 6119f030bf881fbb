import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  installArguments,
  NODE_RELEASE,
  type ImageRole,
} from '../../../constructs/node-software/node-release';

/**
 * The install script's argument checks, the units it writes and configure's boot.env, without a
 * chroot: every path under a scratch RTC_HA_ROOT, systemctl a stub on PATH that logs its calls (in a
 * scratch root the script installs no package). The real install on Debian 12 is
 * test/node-image/boot.test.ts.
 */
const SCRIPT = path.join(__dirname, '../../../constructs/node-software/assets/rtc-ha-node.sh');

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
  const result = spawnSync('bash', [SCRIPT, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${stubs}/bin:${process.env.PATH}`, RTC_HA_ROOT: root, STUB_LOG: log },
  });
  const lines = fs.readFileSync(log, 'utf8').trim();
  return { status: result.status, stderr: result.stderr, log: lines ? lines.split('\n') : [] };
}

/** Every file under the scratch root, relative to it. */
function written(): string[] {
  return (fs.readdirSync(root, { recursive: true }) as string[]).sort();
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'rtc-ha-root-'));
  stubs = fs.mkdtempSync(path.join(os.tmpdir(), 'rtc-ha-stubs-'));
  fs.mkdirSync(path.join(stubs, 'bin'));
  for (const name of ['systemctl', 'apt-get', 'curl', 'useradd']) {
    fs.writeFileSync(
      path.join(stubs, 'bin', name),
      `#!/usr/bin/env bash\necho "${name} $*" >>"$STUB_LOG"\n`,
      {
        mode: 0o755,
      },
    );
  }
  fs.mkdirSync(path.join(stubs, 'app'));
  fs.writeFileSync(path.join(stubs, 'app', 'main.js'), 'console.log("rtc-ha");\n');
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(stubs, { recursive: true, force: true });
});

describe('rtc-ha-node.sh', () => {
  it('passes shellcheck', () => {
    const result = spawnSync('shellcheck', ['--severity=style', SCRIPT], { encoding: 'utf8' });
    expect(result.error).toBeUndefined();
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });

  describe('install', () => {
    const app = () => path.join(stubs, 'app');
    const withArg = (name: string, value: string) => {
      const args = installArguments('master', app());
      args[args.indexOf(name) + 1] = value;
      return args;
    };

    it.each([
      ['an unknown role', () => withArg('--role', 'edge'), /--role must be master, media or pair/],
      [
        'an app without main.js',
        () => withArg('--app', '/nonexistent'),
        /--app must name a directory holding main.js/,
      ],
      [
        'a version that is not X.Y.Z',
        () => withArg('--node-version', 'latest'),
        /--node-version must look like/,
      ],
      [
        'a short arm64 digest',
        () => withArg('--node-sha512-arm64', 'abc'),
        /--node-sha512-arm64 must be 128 hex/,
      ],
      [
        'an x64 digest in base64',
        () => withArg('--node-sha512-x64', 'A'.repeat(128)),
        /--node-sha512-x64 must be 128/,
      ],
      [
        'a missing tarball',
        () => [...installArguments('media', app()), '--node-tarball', '/nonexistent'],
        /--node-tarball/,
      ],
      ['an unknown option', () => [...installArguments('media', app()), '--bundle', 'x'], /usage/],
      ['no command', () => [], /usage/],
    ])('refuses %s and changes nothing', (_, args, message) => {
      const result = run(args());
      expect(result.stderr).toMatch(message);
      expect(result.status).not.toBe(0);
      expect(written()).toEqual([]);
      expect(result.log).toEqual([]);
    });

    it("refuses a Node.js package whose sha512 is not this architecture's, before it changes anything", () => {
      // GIVEN a package whose digest node-release.ts does not list
      const tarball = path.join(stubs, 'node.tgz');
      fs.writeFileSync(tarball, 'not node');
      // WHEN
      const result = run([...installArguments('master', app()), '--node-tarball', tarball]);
      // THEN
      expect(result.stderr).toMatch(/sha512 of .*node.tgz is not [0-9a-f]{128}: refusing this Node.js/);
      expect(result.status).not.toBe(0);
      expect(written()).toEqual([]);
      expect(result.log).toEqual([]);
    });

    /** `install` for `role` with a package laid out like node-linux-<arch>, its digest given for both arches. */
    const installArgs = (role: ImageRole) => {
      const work = fs.mkdtempSync(path.join(os.tmpdir(), 'node-package-'));
      fs.mkdirSync(path.join(work, 'package', 'bin'), { recursive: true });
      fs.writeFileSync(path.join(work, 'package', 'bin', 'node'), '#!/bin/sh\n', { mode: 0o755 });
      const tarball = path.join(stubs, 'node.tgz');
      spawnSync('tar', ['-czf', tarball, '-C', work, 'package']);
      fs.rmSync(work, { recursive: true });
      const digest = createHash('sha512').update(fs.readFileSync(tarball)).digest('hex');
      const args = [...installArguments(role, app()), '--node-tarball', tarball];
      args[args.indexOf('--node-sha512-arm64') + 1] = digest;
      args[args.indexOf('--node-sha512-x64') + 1] = digest;
      return args;
    };

    it('installs a package whose sha512 matches, with the units, and enables nothing', () => {
      // GIVEN a media node's install with a matching package
      const args = installArgs('media');
      fs.writeFileSync(path.join(stubs, 'app', 'log-shipper.js'), '');
      // and an image with both time daemons Debian has
      fs.mkdirSync(path.join(root, 'etc/chrony'), { recursive: true });
      fs.mkdirSync(path.join(root, 'lib/systemd'), { recursive: true });
      fs.writeFileSync(path.join(root, 'lib/systemd/systemd-timesyncd'), '', { mode: 0o755 });
      // and the wants links the janus and coturn packages' postinst would leave
      fs.mkdirSync(path.join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
      for (const unit of ['janus.service', 'coturn.service']) {
        fs.symlinkSync(
          `/lib/systemd/system/${unit}`,
          path.join(root, 'etc/systemd/system/multi-user.target.wants', unit),
        );
      }
      // WHEN
      const result = run(args);
      // THEN
      expect(result.stderr).toContain(`installed the media runtime with Node.js v${NODE_RELEASE.version}`);
      expect(result.status).toBe(0);
      expect(fs.readlinkSync(path.join(root, 'opt/rtc-ha/node'))).toBe(`node-v${NODE_RELEASE.version}`);
      expect(fs.existsSync(path.join(root, 'opt/rtc-ha/app/log-shipper.js'))).toBe(true);
      expect(fs.statSync(path.join(root, 'opt/rtc-ha/bin/rtc-ha-node')).mode & 0o777).toBe(0o755);
      const unit = fs.readFileSync(path.join(root, 'etc/systemd/system/rtc-ha.service'), 'utf8');
      expect(unit).toContain(
        'ExecStart=/opt/rtc-ha/node/bin/node --enable-source-maps /opt/rtc-ha/app/main.js\n',
      );
      expect(unit).toContain('EnvironmentFile=/etc/rtc-ha/boot.env\n');
      // A private runtime folder: the media fleet's RTC_JANUS_CONFIG_DIR, /run/rtc-ha/janus, lies in it.
      expect(unit).toContain('RuntimeDirectory=rtc-ha\nRuntimeDirectoryMode=0700\n');
      // The packages' own services masked and wanted by nothing: the agent runs Janus and coturn.
      expect(fs.readlinkSync(path.join(root, 'etc/systemd/system/janus.service'))).toBe('/dev/null');
      expect(fs.readlinkSync(path.join(root, 'etc/systemd/system/coturn.service'))).toBe('/dev/null');
      expect(fs.readdirSync(path.join(root, 'etc/systemd/system/multi-user.target.wants'))).toEqual([]);
      // coturn, the agent's child, binds TURN's port 443 as the unit's unprivileged user.
      expect(unit).toContain('AmbientCapabilities=CAP_NET_BIND_SERVICE\n');
      const logsUnit = fs.readFileSync(path.join(root, 'etc/systemd/system/rtc-ha-logs.service'), 'utf8');
      expect(logsUnit).toContain('SupplementaryGroups=systemd-journal\n');
      expect(logsUnit).toContain('StateDirectory=rtc-ha-logs\n');
      // both time daemons take the Amazon Time Sync Service
      expect(fs.readFileSync(path.join(root, 'etc/chrony/sources.d/amazon-time-sync.sources'), 'utf8')).toBe(
        'server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4\n',
      );
      expect(
        fs.readFileSync(path.join(root, 'etc/systemd/timesyncd.conf.d/amazon-time-sync.conf'), 'utf8'),
      ).toBe('[Time]\nNTP=169.254.169.123\n');
      expect(result.log).toEqual([]); // no download (the package was given), no systemctl
    });

    it('leaves Janus and coturn alone on a master, and gives it no capability', () => {
      const result = run(installArgs('master'));
      expect(result.status).toBe(0);
      expect(result.stderr).toContain('not installing ca-certificates curl systemd into a scratch root');
      expect(fs.existsSync(path.join(root, 'etc/systemd/system/janus.service'))).toBe(false);
      expect(fs.existsSync(path.join(root, 'etc/systemd/system/coturn.service'))).toBe(false);
      const unit = fs.readFileSync(path.join(root, 'etc/systemd/system/rtc-ha.service'), 'utf8');
      expect(unit).not.toContain('Capabilit');
      // configure reads the role the image was installed with
      expect(fs.readFileSync(path.join(root, 'opt/rtc-ha/role'), 'utf8')).toBe('master\n');
    });

    describe('a pair node', () => {
      const unitDir = () => path.join(root, 'etc/systemd/system');
      const unitText = (name: string) => fs.readFileSync(path.join(unitDir(), name), 'utf8');
      const NODE = '/opt/rtc-ha/node/bin/node --enable-source-maps /opt/rtc-ha/app/main.js';
      let result: Run;

      beforeEach(() => {
        // GIVEN the wants links the janus and coturn packages' postinst would leave
        fs.mkdirSync(path.join(unitDir(), 'multi-user.target.wants'), { recursive: true });
        for (const unit of ['janus.service', 'coturn.service']) {
          fs.symlinkSync(
            `/lib/systemd/system/${unit}`,
            path.join(unitDir(), 'multi-user.target.wants', unit),
          );
        }
        // WHEN
        result = run(installArgs('pair'));
      });

      it('takes the media packages and keepalived and redis-server, and records its role', () => {
        expect(result.status).toBe(0);
        expect(result.stderr).toContain(`installed the pair runtime with Node.js v${NODE_RELEASE.version}`);
        // What apt-get would install outside a scratch root.
        expect(result.stderr).toContain(
          'not installing ca-certificates curl systemd janus coturn keepalived redis-server into a scratch root',
        );
        expect(fs.readFileSync(path.join(root, 'opt/rtc-ha/role'), 'utf8')).toBe('pair\n');
        // The media agent runs Janus and coturn: their packages' services masked, wanted by nothing.
        expect(fs.readlinkSync(path.join(unitDir(), 'janus.service'))).toBe('/dev/null');
        expect(fs.readlinkSync(path.join(unitDir(), 'coturn.service'))).toBe('/dev/null');
        expect(fs.readdirSync(path.join(unitDir(), 'multi-user.target.wants'))).toEqual([]);
        // keepalived and redis-server are configure's to enable: not masked.
        expect(fs.existsSync(path.join(unitDir(), 'keepalived.service'))).toBe(false);
        expect(fs.existsSync(path.join(unitDir(), 'redis-server.service'))).toBe(false);
        expect(result.log).toEqual([]); // enables and starts nothing
      });

      it('runs the master as a master node does', () => {
        const unit = unitText('rtc-ha.service');
        expect(unit).toContain('Description=rtc-ha pair node\n');
        expect(unit).toContain(`ExecStart=${NODE}\n`);
        expect(unit).toContain('RuntimeDirectory=rtc-ha\nRuntimeDirectoryMode=0700\n');
        expect(unit).toContain('User=rtc-ha\n');
        expect(unit).toContain('EnvironmentFile=/etc/rtc-ha/boot.env\n');
        expect(unit).not.toContain('Capabilit');
      });

      it('runs the media agent with its own settings and runtime folder, binding 443 like a media node', () => {
        const unit = unitText('rtc-ha-media.service');
        expect(unit).toContain(`ExecStart=${NODE} media\nRestart=on-failure\n`);
        expect(unit).toContain('EnvironmentFile=/etc/rtc-ha/media-boot.env\n');
        expect(unit).not.toContain('EnvironmentFile=/etc/rtc-ha/boot.env');
        // not rtc-ha: systemd empties the master's folder whenever rtc-ha.service stops
        expect(unit).toContain('RuntimeDirectory=rtc-ha-media\nRuntimeDirectoryMode=0700\n');
        expect(unit).toContain('AmbientCapabilities=CAP_NET_BIND_SERVICE\n');
        expect(unit).toContain('User=rtc-ha\nGroup=rtc-ha\n');
        expect(unit).toContain('NoNewPrivileges=yes\n');
      });

      it('runs the standby agent as root, always restarted, its folder readable and kept', () => {
        const unit = unitText('rtc-ha-standby.service');
        expect(unit).toContain(`ExecStart=${NODE} standby agent\nRestart=always\nRestartSec=1s\n`);
        expect(unit).toContain(
          'RuntimeDirectory=rtc-ha-standby\nRuntimeDirectoryMode=0755\nRuntimeDirectoryPreserve=yes\n',
        );
        expect(unit).toContain('EnvironmentFile=/etc/rtc-ha/boot.env\n');
        expect(unit).toContain('After=redis-server.service\n');
        expect(unit).not.toMatch(/^(User|Group)=/m);
        expect(unit).toContain('ProtectSystem=strict\n');
      });

      it("writes redis-server's and keepalived's configs at every boot, before they and the agent start", () => {
        const unit = unitText('rtc-ha-pair-config.service');
        expect(unit).toContain('After=network-online.target\n');
        expect(unit).toContain('Before=redis-server.service keepalived.service rtc-ha-standby.service\n');
        expect(unit).toContain(
          [
            'Type=oneshot',
            `ExecStart=${NODE} standby redis --out /etc/redis/redis.conf`,
            `ExecStart=${NODE} standby keepalived --out /etc/keepalived/keepalived.conf`,
            'ExecStart=/bin/chown redis:redis /etc/redis/redis.conf',
            'RemainAfterExit=yes',
            '',
          ].join('\n'),
        );
        expect(unit).not.toContain('Restart=');
        expect(unit).toContain('EnvironmentFile=/etc/rtc-ha/boot.env\n');
        expect(unit).not.toMatch(/^(User|Group)=/m);
        // What it writes, under ProtectSystem=strict: the two configs and the agent's folder.
        expect(unit).toContain('ReadWritePaths=/etc/redis /etc/keepalived\n');
        expect(unit).toContain('RuntimeDirectory=rtc-ha-standby\n');
        expect(unit).toContain('WantedBy=multi-user.target\n');
      });

      it("orders the packages' services: keepalived after the agent, redis-server after its config", () => {
        expect(unitText('keepalived.service.d/rtc-ha.conf')).toBe(
          '[Unit]\nAfter=rtc-ha-standby.service rtc-ha-pair-config.service\nWants=rtc-ha-standby.service\nRequires=rtc-ha-pair-config.service\n',
        );
        expect(unitText('redis-server.service.d/rtc-ha.conf')).toBe(
          '[Unit]\nAfter=rtc-ha-pair-config.service\nRequires=rtc-ha-pair-config.service\n',
        );
      });

      it('is idempotent', () => {
        const units = () =>
          [
            'rtc-ha.service',
            'rtc-ha-media.service',
            'rtc-ha-standby.service',
            'rtc-ha-pair-config.service',
          ].map(unitText);
        const before = units();
        const again = run(installArgs('pair'));
        expect(again.status).toBe(0);
        expect(units()).toEqual(before);
      });
    });
  });

  describe('configure', () => {
    const CONFIGURE = [
      'configure',
      '--set',
      'RTC_BOOT_REGION=eu-west-1',
      '--set',
      'RTC_BOOT_SETTINGS_PARAMETER=/rtc-ha/master',
      '--set',
      'RTC_BOOT_SECRETS=RTC_API_SECRET=arn:aws:secretsmanager:eu-west-1:1:secret:api,RTC_REDIS_AUTH_TOKEN=arn:x',
      '--stop-timeout',
      '45',
    ];
    const unitDir = () => path.join(root, 'etc/systemd/system');

    beforeEach(() => {
      fs.mkdirSync(unitDir(), { recursive: true });
      fs.writeFileSync(path.join(unitDir(), 'rtc-ha.service'), '[Service]\n');
    });

    it('writes boot.env (0644, the values as given), the stop timeout, and enables the unit', () => {
      const result = run(CONFIGURE);
      expect(result.stderr).toContain('systemd is not running');
      expect(result.status).toBe(0);
      const bootEnv = path.join(root, 'etc/rtc-ha/boot.env');
      expect(fs.readFileSync(bootEnv, 'utf8')).toBe(
        [
          'RTC_BOOT_REGION=eu-west-1',
          'RTC_BOOT_SETTINGS_PARAMETER=/rtc-ha/master',
          'RTC_BOOT_SECRETS=RTC_API_SECRET=arn:aws:secretsmanager:eu-west-1:1:secret:api,RTC_REDIS_AUTH_TOKEN=arn:x',
          '',
        ].join('\n'),
      );
      expect(fs.statSync(bootEnv).mode & 0o777).toBe(0o644);
      expect(fs.readdirSync(path.join(root, 'etc/rtc-ha'))).toEqual(['boot.env']); // no temporary left
      expect(fs.readFileSync(path.join(unitDir(), 'rtc-ha.service.d/stop.conf'), 'utf8')).toBe(
        '[Service]\nTimeoutStopSec=45s\n',
      );
      expect(result.log).toEqual([`systemctl --root=${root} enable rtc-ha.service`]);
    });

    it('enables and restarts the log shipper too when it is installed and systemd runs', () => {
      fs.writeFileSync(path.join(unitDir(), 'rtc-ha-logs.service'), '[Service]\n');
      fs.mkdirSync(path.join(root, 'run/systemd/system'), { recursive: true });
      const result = run(CONFIGURE);
      expect(result.status).toBe(0);
      expect(result.log).toEqual([
        `systemctl --root=${root} enable rtc-ha.service rtc-ha-logs.service`,
        'systemctl daemon-reload',
        'systemctl restart rtc-ha.service rtc-ha-logs.service',
      ]);
    });

    describe('of a pair image', () => {
      const MEDIA_SET = ['--media-set', 'RTC_BOOT_SETTINGS_PARAMETER=/rtc-ha/media'];
      const PAIR_UNITS = [
        'rtc-ha-pair-config.service',
        'redis-server.service',
        'rtc-ha-standby.service',
        'rtc-ha.service',
        'rtc-ha-media.service',
        'keepalived.service',
      ];

      beforeEach(() => {
        fs.mkdirSync(path.join(root, 'opt/rtc-ha'), { recursive: true });
        fs.writeFileSync(path.join(root, 'opt/rtc-ha/role'), 'pair\n');
      });

      it("writes the media agent's boot.env: boot.env's settings, those given with --media-set replaced", () => {
        const result = run([...CONFIGURE, ...MEDIA_SET, '--media-set', 'RTC_BOOT_MEDIA_ONLY=yes']);
        expect(result.status).toBe(0);
        const mediaEnv = path.join(root, 'etc/rtc-ha/media-boot.env');
        expect(fs.readFileSync(mediaEnv, 'utf8')).toBe(
          [
            'RTC_BOOT_REGION=eu-west-1',
            'RTC_BOOT_SECRETS=RTC_API_SECRET=arn:aws:secretsmanager:eu-west-1:1:secret:api,RTC_REDIS_AUTH_TOKEN=arn:x',
            'RTC_BOOT_SETTINGS_PARAMETER=/rtc-ha/media',
            'RTC_BOOT_MEDIA_ONLY=yes',
            '',
          ].join('\n'),
        );
        expect(fs.statSync(mediaEnv).mode & 0o777).toBe(0o644);
        // boot.env stays the master's
        expect(fs.readFileSync(path.join(root, 'etc/rtc-ha/boot.env'), 'utf8')).toContain(
          'RTC_BOOT_SETTINGS_PARAMETER=/rtc-ha/master\n',
        );
        expect(fs.readdirSync(path.join(root, 'etc/rtc-ha')).sort()).toEqual(['boot.env', 'media-boot.env']);
        expect(result.log).toEqual([`systemctl --root=${root} enable ${PAIR_UNITS.join(' ')}`]);
      });

      it('enables and restarts the pair, the config first and keepalived last, when systemd runs', () => {
        fs.writeFileSync(path.join(unitDir(), 'rtc-ha-logs.service'), '[Service]\n');
        fs.mkdirSync(path.join(root, 'run/systemd/system'), { recursive: true });
        const result = run([...CONFIGURE, ...MEDIA_SET]);
        expect(result.status).toBe(0);
        const units = [...PAIR_UNITS, 'rtc-ha-logs.service'].join(' ');
        expect(result.log).toEqual([
          `systemctl --root=${root} enable ${units}`,
          'systemctl daemon-reload',
          `systemctl restart ${units}`,
        ]);
        // The master's drain deadline, as on any node.
        expect(fs.readFileSync(path.join(unitDir(), 'rtc-ha.service.d/stop.conf'), 'utf8')).toBe(
          '[Service]\nTimeoutStopSec=45s\n',
        );
      });

      it.each([
        [
          'a name outside RTC_BOOT_*',
          ['--media-set', 'RTC_PORT=8080'],
          /--media-set: 'RTC_PORT' does not match/,
        ],
        ['no =', ['--media-set', 'RTC_BOOT_X'], /--media-set 'RTC_BOOT_X' is not NAME=value/],
        [
          'a quoted value',
          ['--media-set', 'RTC_BOOT_X="y"'],
          /--media-set: the value of RTC_BOOT_X holds a quote/,
        ],
      ])('refuses %s in --media-set and writes nothing', (_, extra, message) => {
        const result = run([...CONFIGURE, ...extra]);
        expect(result.stderr).toMatch(message);
        expect(result.status).not.toBe(0);
        expect(fs.existsSync(path.join(root, 'etc/rtc-ha'))).toBe(false);
        expect(result.log).toEqual([]);
      });
    });

    it.each([
      ['a master image', 'master\n', /--media-set is only for a pair image \(this image's role: master\)/],
      ['an image that recorded no role', undefined, /--media-set is only for a pair image/],
    ])('refuses --media-set for %s and writes nothing', (_, role, message) => {
      if (role !== undefined) {
        fs.mkdirSync(path.join(root, 'opt/rtc-ha'), { recursive: true });
        fs.writeFileSync(path.join(root, 'opt/rtc-ha/role'), role);
      }
      const result = run([...CONFIGURE, '--media-set', 'RTC_BOOT_SETTINGS_PARAMETER=/rtc-ha/media']);
      expect(result.stderr).toMatch(message);
      expect(result.status).not.toBe(0);
      expect(fs.existsSync(path.join(root, 'etc/rtc-ha'))).toBe(false);
      expect(fs.existsSync(path.join(unitDir(), 'rtc-ha.service.d'))).toBe(false);
      expect(result.log).toEqual([]);
    });

    it.each([
      ['a name outside RTC_BOOT_*', ['--set', 'RTC_PORT=8080'], /'RTC_PORT' does not match/],
      ['a lower-case name', ['--set', 'RTC_BOOT_region=x'], /does not match/],
      ['no =', ['--set', 'RTC_BOOT_REGION'], /is not NAME=value/],
      ['a value on two lines', ['--set', 'RTC_BOOT_REGION=eu\nRTC_BOOT_X=1'], /spans lines/],
      ['a quoted value', ['--set', 'RTC_BOOT_REGION="eu-west-1"'], /holds a quote or a backslash/],
      ['a value with outer blanks', ['--set', 'RTC_BOOT_REGION= eu-west-1'], /starts or ends with a blank/],
      [
        'a stop timeout that is not seconds',
        ['--stop-timeout', '30s'],
        /--stop-timeout must be a whole number/,
      ],
    ])('refuses %s and writes nothing', (_, extra, message) => {
      const result = run([...CONFIGURE, ...extra]);
      expect(result.stderr).toMatch(message);
      expect(result.status).not.toBe(0);
      expect(fs.existsSync(path.join(root, 'etc/rtc-ha'))).toBe(false);
      expect(fs.existsSync(path.join(unitDir(), 'rtc-ha.service.d'))).toBe(false);
      expect(result.log).toEqual([]);
    });

    it('refuses to run without settings or before install', () => {
      expect(run(['configure', '--stop-timeout', '40']).stderr).toMatch(/--set RTC_BOOT_NAME=value/);
      fs.rmSync(path.join(unitDir(), 'rtc-ha.service'));
      const result = run(CONFIGURE);
      expect(result.stderr).toMatch(/run '.* install' first/);
      expect(fs.existsSync(path.join(root, 'etc/rtc-ha'))).toBe(false);
    });
  });
});
