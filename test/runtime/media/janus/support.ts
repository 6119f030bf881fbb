import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../../local/ports';
import {
  JanusSpec,
  JanusSupervisor,
  JanusSupervisorOptions,
  debianJanusLibDir,
  newJanusSecret,
} from '../../../../runtime/media/janus';
import { silentLogger } from '../../../../runtime/node/log';

/** Tests run as root here: Janus then runs as nobody, which the supervisor insists on. */
export const RUN_AS = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;

/**
 * The address tests give Janus for ICE: this machine's first non-loopback IPv4 address. They
 * negotiate no media, so a machine without one runs them with a documentation address.
 */
export const TEST_ICE_ADDRESS =
  Object.values(networkInterfaces())
    .flat()
    .find((a) => a?.family === 'IPv4' && !a.internal)?.address ?? '192.0.2.1';

/** Fails early, with the package to install, when Janus is missing (scripts/ensure-test-deps.sh installs it). */
export function requireJanus(): void {
  if (spawnSync('janus', ['--help'], { stdio: 'ignore' }).error) {
    throw new Error('janus not found: install it (Debian: apt-get install -y janus)');
  }
}

/** A spec on free loopback ports; its folder does not exist yet (the supervisor makes and removes it). */
export async function testSpec(overrides: Partial<JanusSpec> = {}): Promise<JanusSpec> {
  const rtpPortMin = 40_000 + Math.floor(Math.random() * 200) * 100;
  return {
    configDir: join(tmpdir(), `rtc-janus-${randomBytes(6).toString('hex')}`),
    libDir: debianJanusLibDir(),
    apiPort: await freePort(),
    apiSecret: newJanusSecret(),
    adminPort: await freePort(),
    adminSecret: newJanusSecret(),
    rtpPortMin,
    rtpPortMax: rtpPortMin + 99,
    iceAddress: TEST_ICE_ADDRESS,
    sessionTimeoutSeconds: 30,
    serverName: 'rtc-test',
    logLevel: 4,
    ...overrides,
  };
}

/** A started supervisor on a fresh spec; `stop()` it. */
export async function startJanus(options: Partial<JanusSupervisorOptions> = {}): Promise<JanusSupervisor> {
  requireJanus();
  const supervisor = new JanusSupervisor({
    spec: options.spec ?? (await testSpec()),
    log: silentLogger,
    runAs: RUN_AS,
    minOpenFiles: 1_024,
    ...options,
  });
  await supervisor.start();
  return supervisor;
}
