import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { NodeRole } from '../../runtime/contract/registry';
import { waitFor } from '../../local/ports';
import { Api } from '../runtime/master/support/harness';
import {
  configureRole,
  INSTALL_SCRIPT,
  installRole,
  readUnit,
  serviceKeys,
  startBootWorld,
  startInstalledUnit,
  StartedUnit,
  BootWorld,
  UNIT_DIR,
} from './support/image';
import { debianTarball, freshRootfs, progress, Rootfs } from './support/rootfs';

/**
 * The node image for real: a Debian 12 root file system from debootstrap, the install script run in
 * it through chroot exactly as Image Builder runs it (apt-get, Node.js from the npm registry checked
 * against node-release.ts), `configure` as user data runs it, then the installed unit's own command
 * line, as its user, against IMDS / SSM / Secrets Manager stand-ins and a TLS redis-server with a
 * password. Needs root (chroot, mount); CI runs as root.
 */
const isRoot = process.getuid?.() === 0;
if (!isRoot) progress('skipped: the node image test needs root (debootstrap, chroot, mount)');
const describeAsRoot = isRoot ? describe : describe.skip;

/** A cold machine: debootstrap, then per role apt-get and a 50 MB Node.js download. */
const SETUP_TIMEOUT_MS = 10 * 60_000;

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

  describe.each<NodeRole>(['master', 'media'])('%s', (role) => {
    let rootfs: Rootfs | undefined;
    let unit: StartedUnit | undefined;
    /** Where this role's AWS calls start in world.aws.calls (the roles boot one after the other). */
    let firstCall = 0;

    beforeAll(() => {
      firstCall = world.aws.calls.length;
      rootfs = freshRootfs(tarball, role);
      installRole(rootfs, role);
      configureRole(rootfs, world.bootSettings(role));
    }, SETUP_TIMEOUT_MS);

    afterAll(async () => {
      await unit?.child.stop(5_000);
      if (unit) fs.rmSync(unit.child.logFile, { force: true });
      rootfs?.dispose();
    }, 60_000);

    it('installs the pinned Node.js, the app, the user and units that systemd accepts', () => {
      const root = rootfs!;
      expect(root.chroot(['/opt/rtc-ha/node/bin/node', '--version']).trim()).toBe('v24.21.0');
      expect(fs.existsSync(root.at('/opt/rtc-ha/app/main.js'))).toBe(true);
      expect(root.chroot(['id', '-u', 'rtc-ha']).trim()).toMatch(/^\d+$/);
      const units = fs.readdirSync(root.at(UNIT_DIR)).filter((f) => f.startsWith('rtc-ha'));
      const verify = spawnSync(
        'systemd-analyze',
        [
          'verify',
          `--root=${root.dir}`,
          ...units.filter((u) => u.endsWith('.service')).map((u) => `${UNIT_DIR}/${u}`),
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
      // The media agent's coturn binds TURN's port 443 as the unit's user.
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

    it.each([
      ['janus', '/usr/bin/janus', /^install ok installed 1\.1\./],
      ['coturn', '/usr/bin/turnserver', /^install ok installed 4\.6\./],
    ])(
      `installs Debian's %s ${role === 'media' ? 'with its own service masked' : 'only on media nodes'}`,
      (pkg, binary, version) => {
        const root = rootfs!;
        const status = spawnSync('chroot', [root.dir, 'dpkg-query', '-W', '-f=${Status} ${Version}', pkg], {
          encoding: 'utf8',
        });
        if (role === 'master') {
          expect(status.stdout).not.toContain('install ok installed');
          expect(fs.existsSync(root.at(binary))).toBe(false);
          return;
        }
        expect(status.stdout).toMatch(version);
        // The package's own service (janus: 8088/8188, every plugin; coturn: /etc/turnserver.conf, its
        // CLI port) never starts: masked, wanted by nothing. The agent runs both itself.
        const unit = `${pkg}.service`;
        const enabled = spawnSync('systemctl', [`--root=${root.dir}`, 'is-enabled', unit], {
          encoding: 'utf8',
        });
        expect(enabled.stdout.trim()).toBe('masked');
        expect(fs.readlinkSync(root.at(`${UNIT_DIR}/${unit}`))).toBe('/dev/null');
        const wanted = fs
          .readdirSync(root.at(UNIT_DIR))
          .filter((d) => d.endsWith('.wants'))
          .flatMap((d) => fs.readdirSync(root.at(`${UNIT_DIR}/${d}`)));
        expect(wanted).not.toContain(unit);
      },
    );

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
    }, 60_000);

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

    it('takes the secrets the role reads, the API secret at both stages', async () => {
      const stages = world.aws.calls
        .slice(firstCall)
        .filter((c) => c.target === 'secretsmanager.GetSecretValue')
        .map((c) => `${String(c.input.SecretId).split(':').pop()}@${String(c.input.VersionStage)}`);
      if (role === 'media') {
        expect(stages.sort()).toEqual(['media-control@AWSCURRENT', 'redis-auth@AWSCURRENT']);
        return;
      }
      // RTC_API_SECRET_PREVIOUS comes from the AWSPREVIOUS stage; the other secrets' are never asked for.
      expect(stages.sort()).toEqual([
        'api@AWSCURRENT',
        'api@AWSPREVIOUS',
        'media-control@AWSCURRENT',
        'redis-auth@AWSCURRENT',
      ]);
      const url = `http://127.0.0.1:${world.port(role)}`;
      for (const secret of [world.apiSecret.current, world.apiSecret.previous]) {
        expect((await new Api(url, secret).call('GET', '/v1/sessions/none')).status).toBe(404);
      }
      expect(
        (await new Api(url, 'not-the-api-secret-0123456789').call('GET', '/v1/sessions/none')).status,
      ).toBe(401);
    });
  });
});
