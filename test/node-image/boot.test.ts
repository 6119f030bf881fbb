import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { ImageRole } from '../../constructs/node-software/node-release';
import { STANDBY_DEFAULTS } from '../../runtime/standby/defaults';
import { grantLease, STANDBY_REASON, writeLease } from '../../runtime/standby/lease';
import type { AwsCall } from '../support/aws-api';
import { waitFor } from '../../local/ports';
import { Api } from '../runtime/master/support/harness';
import {
  configureRole,
  INSTALL_SCRIPT,
  installRole,
  isEnabled,
  processesIn,
  readEnvironmentFile,
  readUnit,
  runInstalledOneshot,
  RunningUnit,
  serviceKeys,
  signalsReady,
  spawnInstalledUnit,
  startBootWorld,
  startInstalledUnit,
  startPairMediaUnit,
  StartedUnit,
  BootWorld,
  UNIT_DIR,
  wantedUnits,
} from './support/image';
import { debianTarball, freshRootfs, progress, Rootfs } from './support/rootfs';

/**
 * The node image for real: a Debian 12 root file system from debootstrap, the install script run in
 * it through chroot exactly as Image Builder runs it (apt-get, Node.js from the npm registry checked
 * against node-release.ts), `configure` as user data runs it, then the installed unit's own command
 * line, as its user, against IMDS / SSM / Secrets Manager stand-ins and a TLS redis-server with a
 * password. For each role: master, media and pair (an active-standby pair's node, docs/topologies.md),
 * whose pair-config unit, Debian's redis-server on the config it writes, and media agent run too.
 * Needs root (chroot, mount); CI runs as root.
 */
const isRoot = process.getuid?.() === 0;
if (!isRoot) progress('skipped: the node image test needs root (debootstrap, chroot, mount)');
const describeAsRoot = isRoot ? describe : describe.skip;

/** A cold machine: debootstrap, then per role apt-get and a 50 MB Node.js download. */
const SETUP_TIMEOUT_MS = 10 * 60_000;

/**
 * Debian's packages an image carries beside Node.js, and how install leaves their own services: Janus's
 * and coturn's masked (the media agent runs both itself), keepalived's and redis-server's disabled
 * (a pair node's configure enables them, to run on the configs its pair-config unit writes).
 */
const DEBIAN_PACKAGES = [
  { name: 'janus', binary: '/usr/bin/janus', version: /^install ok installed 1\.1\./, service: 'masked' },
  {
    name: 'coturn',
    binary: '/usr/bin/turnserver',
    version: /^install ok installed 4\.6\./,
    service: 'masked',
  },
  {
    name: 'keepalived',
    binary: '/usr/sbin/keepalived',
    version: /^install ok installed 1:2\.2\./,
    service: 'disabled',
  },
  {
    name: 'redis-server',
    binary: '/usr/bin/redis-server',
    version: /^install ok installed 5:7\.0\./,
    service: 'disabled',
  },
] as const;
type DebianPackage = (typeof DEBIAN_PACKAGES)[number];

/** Which of them each role's image carries: a pair node runs a media agent too. */
const ROLE_PACKAGES: Record<ImageRole, readonly DebianPackage['name'][]> = {
  master: [],
  media: ['janus', 'coturn'],
  pair: ['janus', 'coturn', 'keepalived', 'redis-server'],
};

/** A pair node's units, its own and the packages', each enabled by configure. */
const PAIR_UNITS = [
  'rtc-ha.service',
  'rtc-ha-media.service',
  'rtc-ha-standby.service',
  'rtc-ha-pair-config.service',
  'keepalived.service',
  'redis-server.service',
];

/** The installed app's command line, as every unit's ExecStart starts. */
const APP = '/opt/rtc-ha/node/bin/node --enable-source-maps /opt/rtc-ha/app/main.js';

/** The secrets each role's master (or media agent) reads, as `name@stage`, sorted. */
const SECRETS_READ: Record<ImageRole, string[]> = {
  // RTC_API_SECRET_PREVIOUS comes from the AWSPREVIOUS stage; the other secrets' are never asked for.
  master: ['api@AWSCURRENT', 'api@AWSPREVIOUS', 'media-control@AWSCURRENT', 'redis-auth@AWSCURRENT'],
  media: ['media-control@AWSCURRENT', 'redis-auth@AWSCURRENT'],
  // The node's own store's password, as RTC_REDIS_AUTH_TOKEN; not as RTC_STANDBY_STORE_PASSWORD.
  pair: ['api@AWSCURRENT', 'api@AWSPREVIOUS', 'media-control@AWSCURRENT', 'store-password@AWSCURRENT'],
};

/** The secrets `calls` read, as `name@stage`, sorted. */
function secretsRead(calls: readonly AwsCall[]): string[] {
  return calls
    .filter((c) => c.target === 'secretsmanager.GetSecretValue')
    .map((c) => `${String(c.input.SecretId).split(':').pop()}@${String(c.input.VersionStage)}`)
    .sort();
}

/** The image right after install, before configure. */
interface Installed {
  /** What runs in the image: nothing, though postinst scripts may try to start their services. */
  readonly processes: string[];
  /** `is-enabled` of each Debian package's own service. */
  readonly enabled: Record<string, string>;
  readonly wanted: string[];
}

describeAsRoot('the Debian 12 node image', () => {
  let tarball: string;
  let world: BootWorld;

  beforeAll(async () => {
    tarball = debianTarball().file;
    world = await startBootWorld();
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await world?.close();
  });

  it('passes shellcheck', () => {
    const result = spawnSync('shellcheck', ['--severity=style', INSTALL_SCRIPT], { encoding: 'utf8' });
    expect(result.error).toBeUndefined();
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });

  describe.each<ImageRole>(['master', 'media', 'pair'])('%s', (role) => {
    let rootfs: Rootfs | undefined;
    let installed: Installed;
    let unit: StartedUnit | undefined;
    /** A pair node's store: Debian's redis-server on the config its pair-config unit wrote. */
    let store: RunningUnit | undefined;
    /** A pair node's media agent (rtc-ha-media.service). */
    let media: StartedUnit | undefined;
    /** Where the AWS calls of this role's rtc-ha.service start in world.aws.calls. */
    let firstCall = 0;

    beforeAll(() => {
      rootfs = freshRootfs(tarball, role, { unsafeIo: true });
      installRole(rootfs, role);
      installed = {
        processes: processesIn(rootfs),
        enabled: Object.fromEntries(
          DEBIAN_PACKAGES.map(({ name }) => [`${name}.service`, isEnabled(rootfs!, `${name}.service`)]),
        ),
        wanted: wantedUnits(rootfs),
      };
      configureRole(rootfs, world.bootSettings(role), world.mediaBootSettings(role));
    }, SETUP_TIMEOUT_MS);

    afterAll(async () => {
      for (const running of [media, unit, store]) {
        await running?.child.stop(5_000);
        if (running) fs.rmSync(running.child.logFile, { force: true });
      }
      rootfs?.dispose();
    }, 60_000);

    it('installs the pinned Node.js, the app, the user and units that systemd accepts', () => {
      const root = rootfs!;
      expect(root.chroot(['/opt/rtc-ha/node/bin/node', '--version']).trim()).toBe('v24.21.0');
      expect(fs.existsSync(root.at('/opt/rtc-ha/app/main.js'))).toBe(true);
      expect(root.chroot(['id', '-u', 'rtc-ha']).trim()).toMatch(/^\d+$/);
      expect(fs.readFileSync(root.at('/opt/rtc-ha/role'), 'utf8')).toBe(`${role}\n`);
      const units = fs.readdirSync(root.at(UNIT_DIR)).filter((f) => f.startsWith('rtc-ha'));
      const verify = spawnSync(
        'systemd-analyze',
        [
          'verify',
          `--root=${root.dir}`,
          ...units.filter((u) => u.endsWith('.service')).map((u) => `${UNIT_DIR}/${u}`),
          // A pair node's keepalived and redis-server: Debian's units with the script's drop-ins.
          ...(role === 'pair' ? ['keepalived.service', 'redis-server.service'] : []),
        ],
        { encoding: 'utf8' },
      );
      expect(`${verify.stdout}${verify.stderr}`).toBe('');
      expect(verify.status).toBe(0);
      const service = serviceKeys(fs.readFileSync(root.at(`${UNIT_DIR}/rtc-ha.service`), 'utf8'));
      expect(service).toMatchObject({
        Type: 'simple',
        User: 'rtc-ha',
        Restart: 'on-failure',
        // The agent writes Janus's config, secrets included, under /run/rtc-ha.
        RuntimeDirectory: 'rtc-ha',
        RuntimeDirectoryMode: '0700',
      });
      // The media agent's coturn binds TURN's port 443 as the unit's user (a pair's: its own unit).
      expect(service.AmbientCapabilities).toBe(role === 'media' ? 'CAP_NET_BIND_SERVICE' : undefined);
      expect(fs.readFileSync(root.at(`${UNIT_DIR}/rtc-ha.service.d/stop.conf`), 'utf8')).toBe(
        '[Service]\nTimeoutStopSec=40s\n',
      );
      // configure enabled it for the next boot; systemd does not run in the chroot, so nothing started.
      const wants = root.at(`${UNIT_DIR}/multi-user.target.wants`);
      for (const name of units.filter((u) => u.endsWith('.service'))) {
        expect(fs.readlinkSync(`${wants}/${name}`)).toBe(`${UNIT_DIR}/${name}`);
      }
      // The log shipper's unit comes with its bundle (the project ships one now), never without.
      expect(units.includes('rtc-ha-logs.service')).toBe(
        fs.existsSync(root.at('/opt/rtc-ha/app/log-shipper.js')),
      );
      if (units.includes('rtc-ha-logs.service')) {
        expect(
          serviceKeys(fs.readFileSync(root.at(`${UNIT_DIR}/rtc-ha-logs.service`), 'utf8')),
        ).toMatchObject({
          SupplementaryGroups: 'systemd-journal',
          EnvironmentFile: '/etc/rtc-ha/boot.env',
          User: 'rtc-ha',
          // The shipper keeps its journal cursor in $STATE_DIRECTORY, under ProtectSystem=strict.
          StateDirectory: 'rtc-ha-logs',
        });
      }
    });

    it('starts nothing: no process runs in the image after install', () => {
      expect(installed.processes).toEqual([]);
    });

    it.each(
      DEBIAN_PACKAGES.map((pkg) => {
        const title = ROLE_PACKAGES[role].includes(pkg.name)
          ? `installs Debian's ${pkg.name}, its own service ${pkg.service}`
          : `does not install Debian's ${pkg.name}`;
        return [title, pkg] as const;
      }),
    )('%s', (_, { name, binary, version, service }) => {
      const root = rootfs!;
      const status = spawnSync('chroot', [root.dir, 'dpkg-query', '-W', '-f=${Status} ${Version}', name], {
        encoding: 'utf8',
      });
      if (!ROLE_PACKAGES[role].includes(name)) {
        expect(status.stdout).not.toContain('install ok installed');
        expect(fs.existsSync(root.at(binary))).toBe(false);
        return;
      }
      expect(status.stdout).toMatch(version);
      // Right after install the package's own service is off: wanted by nothing. Janus's (8088/8188,
      // every plugin) and coturn's (/etc/turnserver.conf, its CLI port) never start: masked. keepalived's
      // and redis-server's wait for configure, which enables them.
      const unit = `${name}.service`;
      expect(installed.enabled[unit]).toBe(service);
      expect(installed.wanted).not.toContain(unit);
      if (service === 'masked') {
        expect(isEnabled(root, unit)).toBe('masked');
        expect(fs.readlinkSync(root.at(`${UNIT_DIR}/${unit}`))).toBe('/dev/null');
        expect(wantedUnits(root)).not.toContain(unit);
      } else {
        expect(isEnabled(root, unit)).toBe('enabled');
      }
    });

    if (role === 'pair') {
      it("configures the media agent's own settings and enables the pair's units", () => {
        const root = rootfs!;
        const boot = world.bootSettings(role);
        expect(readEnvironmentFile(root, '/etc/rtc-ha/boot.env')).toEqual(boot);
        // boot.env's settings with the --media-set ones in their place: its own parameter, the Elastic IP.
        const media = readEnvironmentFile(root, '/etc/rtc-ha/media-boot.env');
        expect(media).toEqual({ ...boot, ...world.mediaBootSettings(role) });
        expect(media).toMatchObject({
          RTC_BOOT_SETTINGS_PARAMETER: world.pair.mediaParameter,
          RTC_BOOT_PUBLIC_ADDRESS: world.pair.publicAddress,
        });
        for (const name of PAIR_UNITS) expect([name, isEnabled(root, name)]).toEqual([name, 'enabled']);

        const unitKeys = (name: string) =>
          serviceKeys(fs.readFileSync(root.at(`${UNIT_DIR}/${name}`), 'utf8'));
        expect(unitKeys('rtc-ha-media.service')).toMatchObject({
          ExecStart: `${APP} media`,
          User: 'rtc-ha',
          EnvironmentFile: '/etc/rtc-ha/media-boot.env',
          AmbientCapabilities: 'CAP_NET_BIND_SERVICE',
          RuntimeDirectory: 'rtc-ha-media',
        });
        // As root (the store's replication, keepalived's track file); its folder outlives its restarts.
        const standby = unitKeys('rtc-ha-standby.service');
        expect(standby).toMatchObject({
          ExecStart: `${APP} standby agent`,
          EnvironmentFile: '/etc/rtc-ha/boot.env',
          Restart: 'always',
          RuntimeDirectory: 'rtc-ha-standby',
          RuntimeDirectoryPreserve: 'yes',
        });
        expect(standby.User).toBeUndefined();
        // keepalived follows the agent its hooks talk to; redis-server never starts without its config.
        expect(fs.readFileSync(root.at(`${UNIT_DIR}/keepalived.service.d/rtc-ha.conf`), 'utf8')).toBe(
          '[Unit]\nAfter=rtc-ha-standby.service rtc-ha-pair-config.service\nWants=rtc-ha-standby.service\nRequires=rtc-ha-pair-config.service\n',
        );
        expect(fs.readFileSync(root.at(`${UNIT_DIR}/redis-server.service.d/rtc-ha.conf`), 'utf8')).toBe(
          '[Unit]\nAfter=rtc-ha-pair-config.service\nRequires=rtc-ha-pair-config.service\n',
        );
      });

      it("writes redis-server's and keepalived's configs from the pair's settings, running its pair-config unit", async () => {
        const root = rootfs!;
        const pair = world.pair;
        const from = world.aws.calls.length;
        const command = await runInstalledOneshot(root, 'rtc-ha-pair-config.service', role, world);
        expect(command.user).toBe('root');
        expect(command.execStart.map((line) => line.join(' '))).toEqual([
          `${APP} standby redis --out /etc/redis/redis.conf`,
          `${APP} standby keepalived --out /etc/keepalived/keepalived.conf`,
          '/bin/chown redis:redis /etc/redis/redis.conf',
        ]);
        // Each program reads the pair's settings and, of the secrets, only the store's password.
        expect(secretsRead(world.aws.calls.slice(from))).toEqual([
          'store-password@AWSCURRENT',
          'store-password@AWSCURRENT',
        ]);

        const redisConf = root.at('/etc/redis/redis.conf');
        expect(fs.readFileSync(redisConf, 'utf8').split('\n')).toEqual(
          expect.arrayContaining([
            `port ${pair.storePort}`,
            `bind 127.0.0.1 ${pair.address}`,
            'dir /var/lib/redis',
            `requirepass ${pair.storePassword}`,
            `masterauth ${pair.storePassword}`,
          ]),
        );
        // It holds the password: redis-server's (it runs as redis), no one else's.
        const redisUid = Number(root.chroot(['id', '-u', 'redis']).trim());
        expect(fs.statSync(redisConf)).toMatchObject({ uid: redisUid });
        expect(fs.statSync(redisConf).mode & 0o777).toBe(0o640);

        // This node is the second of RTC_STANDBY_PAIR_ADDRESSES: the other node is its peer, and preferred.
        const keepalivedConf = fs.readFileSync(root.at('/etc/keepalived/keepalived.conf'), 'utf8');
        expect(keepalivedConf.split('\n')).toEqual(
          expect.arrayContaining([
            `  router_id ${world.instanceId(role)}`,
            `  interface ${pair.interface}`,
            `  unicast_src_ip ${pair.address}`,
            `    ${pair.peerAddress}`,
            `  priority ${STANDBY_DEFAULTS.otherPriority}`,
            '  preempt_delay 10',
            `  file "${pair.stateDir}/caught-up"`,
          ]),
        );
        expect(keepalivedConf).toContain(`http://127.0.0.1:${world.port(role)}/live`);
        expect(keepalivedConf).toContain(`--unix-socket ${pair.stateDir}/agent.sock`);
        // Debian's keepalived accepts it.
        const test = spawnSync(
          'chroot',
          [root.dir, '/usr/sbin/keepalived', '--config-test', '--use-file=/etc/keepalived/keepalived.conf'],
          { encoding: 'utf8' },
        );
        // Its one remark: no virtual IP, by design on AWS, where the Elastic IP moves instead. (The config
        // test exits 5 on any remark, that one included; an unknown keyword or interface adds its own.)
        const remarks = `${test.stdout}${test.stderr}`.split('\n').filter((line) => line !== '');
        expect(new Set(remarks)).toEqual(new Set(['(rtc_ha) No VIP specified; at least one is sensible']));
        expect(test.status).toBe(5);
      });

      it("runs Debian's redis-server on that config, as its unit does, with the password", async () => {
        const root = rootfs!;
        const pair = world.pair;
        store = spawnInstalledUnit(root, 'redis-server.service', undefined, '/lib/systemd/system');
        expect(store.command.user).toBe('redis');
        const server = ['-h', pair.address, '-p', String(pair.storePort)];
        const cli = (...args: string[]) =>
          spawnSync('chroot', [root.dir, 'redis-cli', ...server, ...args], { encoding: 'utf8' });
        const withPassword = ['--no-auth-warning', '-a', pair.storePassword];
        await waitFor(
          `redis-server on ${pair.address}:${pair.storePort}`,
          () => !store!.child.hasExited() && cli(...withPassword, 'ping').stdout.trim() === 'PONG',
          10_000,
          50,
        ).catch((err: Error) => {
          throw new Error(`${err.message}\n${fs.readFileSync(store!.child.logFile, 'utf8')}`);
        });
        expect(cli('ping').stdout).toContain('NOAUTH');
        expect(fs.statSync(`/proc/${store.child.process.pid}`).uid).toBe(
          Number(root.chroot(['id', '-u', 'redis']).trim()),
        );
      });
    }

    it(
      'install is idempotent',
      () => {
        const before = fs.readFileSync(rootfs!.at(`${UNIT_DIR}/rtc-ha.service`), 'utf8');
        installRole(rootfs!, role);
        expect(fs.readFileSync(rootfs!.at(`${UNIT_DIR}/rtc-ha.service`), 'utf8')).toBe(before);
        expect(rootfs!.chroot(['/opt/rtc-ha/node/bin/node', '--version']).trim()).toBe('v24.21.0');
      },
      SETUP_TIMEOUT_MS,
    );

    it('boots from boot.env alone: the installed unit turns ready', async () => {
      const root = rootfs!;
      const command = readUnit(root, 'rtc-ha.service');
      expect(command.environmentFile).toBe('/etc/rtc-ha/boot.env');
      firstCall = world.aws.calls.length;
      unit = await startInstalledUnit(root, role, world);
      progress(`${role}: ready ${unit.readyMs} ms after start`);
      // boot.env named only where the settings are: no RTC_* setting reached the process directly.
      expect(Object.keys(unit.env).filter((k) => k.startsWith('RTC_') && !k.startsWith('RTC_BOOT_'))).toEqual(
        [],
      );
      const log = fs.readFileSync(unit.child.logFile, 'utf8');
      // Ready means the image's Janus runs as the agent's child, with the public address as its NAT mapping.
      if (role === 'media') {
        expect(log).toContain(world.publicIpv4);
        expect(log).toContain('janus_session_open');
      }
      if (role === 'pair') {
        // A pair's master stands by, on its node's store, for the one reason its peer's agent looks for;
        // under the serve lease its agent grants where StandbyPair says, it serves.
        const ready = () => new Api(`http://127.0.0.1:${world.port(role)}`).call('GET', '/ready');
        const standingBy = (reasons: string[] = []) =>
          reasons.length > 0 && reasons.every((r) => r.startsWith(`${STANDBY_REASON}: `));
        // Until its store's subscriber is connected, that is one reason more.
        await waitFor('only the standby reason', async () => standingBy((await ready()).body?.reasons));
        const notReady = await ready();
        expect(notReady.status).toBe(503);
        expect(notReady.body.reasons).toEqual([expect.stringMatching(new RegExp(`^${STANDBY_REASON}: `))]);
        writeLease(root.at(world.pair.leaseFile), grantLease(Date.now(), 10 * 60_000));
        await waitFor('GET /ready = 200 under the serve lease', async () => (await ready()).status === 200);
      }
    }, 60_000);

    if (signalsReady(role)) {
      it('signals SUCCESS to CloudFormation as the instance IMDS names', async () => {
        const target = world.signalTarget(role);
        const signals = () =>
          world.aws.calls
            .slice(firstCall)
            .filter((c) => c.target === 'SignalResource')
            .map((c) => c.input);
        await waitFor(`${role}'s SignalResource`, () => signals().length > 0, 10_000);
        expect(signals()).toEqual([
          expect.objectContaining({
            StackName: target.stack,
            LogicalResourceId: target.resource,
            UniqueId: world.instanceId(role),
            Status: 'SUCCESS',
          }),
        ]);
      }, 15_000);
    }

    it('takes the secrets the role reads, the API secret at both stages', async () => {
      expect(secretsRead(world.aws.calls.slice(firstCall))).toEqual(SECRETS_READ[role]);
      if (role === 'media') return;
      const url = `http://127.0.0.1:${world.port(role)}`;
      for (const secret of [world.apiSecret.current, world.apiSecret.previous]) {
        expect((await new Api(url, secret).call('GET', '/v1/sessions/none')).status).toBe(404);
      }
      expect(
        (await new Api(url, 'not-the-api-secret-0123456789').call('GET', '/v1/sessions/none')).status,
      ).toBe(401);
    });

    if (role === 'pair') {
      it('boots its media agent from media-boot.env: its own settings, the Elastic IP as its address', async () => {
        const from = world.aws.calls.length;
        media = await startPairMediaUnit(rootfs!, world);
        progress(`pair: media agent ready ${media.readyMs} ms after start`);
        // Its own parameter, and of the pair's secrets those a media agent reads (the store's as its Redis's).
        const parameters = world.aws.calls
          .slice(from)
          .filter((c) => c.target === 'AmazonSSM.GetParameter')
          .map((c) => c.input.Name);
        expect(parameters).toEqual([world.pair.mediaParameter]);
        expect(secretsRead(world.aws.calls.slice(from))).toEqual([
          'media-control@AWSCURRENT',
          'store-password@AWSCURRENT',
        ]);
        // IMDS gives a pair node no public-ipv4 here: Janus's NAT mapping is RTC_BOOT_PUBLIC_ADDRESS.
        const log = fs.readFileSync(media.child.logFile, 'utf8');
        expect(log).toContain(world.pair.publicAddress);
        expect(log).toContain('janus_session_open');
      }, 60_000);
    }
  });
});
