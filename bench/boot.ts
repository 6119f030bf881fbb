/**
 * Boot benchmark: how long the Debian 12 node image's file system takes to build, and how long a node
 * started from it takes to turn ready. The same steps as test/node-image/boot.test.ts: debootstrap
 * (cold: no cache; warm: the cached tarball), `rtc-ha-node.sh install` in a chroot (apt-get, Node.js
 * from the npm registry, checked), `configure`, then the installed unit's command line against the
 * IMDS / SSM / Secrets Manager stand-ins and a TLS redis-server, timed from spawn to GET /ready = 200.
 *
 * Run as root: npx tsx bench/boot.ts [--quick]   (quick: warm cache only, one boot a role; full: also
 * a cold debootstrap into a scratch cache, and three boots a role, the median reported)
 */
import * as fs from 'node:fs';
import { loadavg } from 'node:os';
import * as path from 'node:path';
import { NODE_RELEASE } from '../constructs/node-software/node-release';
import type { NodeRole } from '../runtime/contract/registry';
import {
  configureRole,
  installRole,
  startBootWorld,
  startInstalledUnit,
} from '../test/node-image/support/image';
import { CACHE_DIR, debianTarball, freshRootfs } from '../test/node-image/support/rootfs';
import { progress, quick, writeBenchResult } from './support/report';

const ROLES: NodeRole[] = ['master', 'media'];
const BOOTS = quick ? 1 : 3;
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/boot.ts needs root (debootstrap, chroot, mount)');
  const loadAtStart = round(loadavg()[0]);

  // Cold: debootstrap into a scratch cache, so the shared one stays for the tests.
  let cold: { debootstrapSeconds: number; installSeconds: number; totalSeconds: number } | undefined;
  if (!quick) {
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    const scratch = fs.mkdtempSync(path.join(CACHE_DIR, 'bench-cold-'));
    try {
      const start = Date.now();
      const tarball = debianTarball(scratch);
      const installSeconds = timedInstall(tarball.file, 'master');
      cold = {
        debootstrapSeconds: round(tarball.seconds),
        installSeconds,
        totalSeconds: round((Date.now() - start) / 1000),
      };
      progress(`cold: ${cold.totalSeconds} s (debootstrap ${cold.debootstrapSeconds} s)`);
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }

  const tarball = debianTarball().file;
  const world = await startBootWorld();
  const warmSeconds: Record<string, number> = {};
  const readyRuns: Record<string, number[]> = {};
  try {
    for (const role of ROLES) {
      const start = Date.now();
      const rootfs = freshRootfs(tarball, `bench-${role}`);
      try {
        installRole(rootfs, role);
        warmSeconds[role] = round((Date.now() - start) / 1000);
        configureRole(rootfs, world.bootSettings(role));
        readyRuns[role] = [];
        for (let i = 0; i < BOOTS; i++) {
          const unit = await startInstalledUnit(rootfs, role, world);
          readyRuns[role].push(unit.readyMs);
          await unit.child.stop(10_000);
          fs.rmSync(unit.child.logFile, { force: true });
        }
        progress(`${role}: install ${warmSeconds[role]} s (warm), ready ${readyRuns[role].join(', ')} ms`);
      } finally {
        rootfs.dispose();
      }
    }
  } finally {
    await world.close();
  }

  const readyMs = Object.fromEntries(ROLES.map((r) => [r, median(readyRuns[r])]));
  const result = {
    installSeconds: cold?.totalSeconds ?? warmSeconds.master,
    readyMs,
    installSecondsMeaning: cold
      ? 'cold: debootstrap + install (master)'
      : 'warm: cached rootfs + install (master)',
    cold: cold ?? null,
    warmInstallSeconds: warmSeconds,
    readyRunsMs: readyRuns,
    node: NODE_RELEASE.version,
    loadAverageAtStart: loadAtStart,
  };
  writeBenchResult(
    'boot',
    result,
    `
The Debian 12 (bookworm) node image, built and booted on this machine as test/node-image does it:
\`debootstrap --variant=minbase\`, then \`rtc-ha-node.sh install\` in a chroot (apt-get of
ca-certificates, curl and systemd; Node.js ${NODE_RELEASE.version} from the npm registry, sha512 checked;
the esbuild bundles), \`configure\`, then the installed unit's ExecStart as its user against local
IMDS / SSM / Secrets Manager stand-ins and a TLS, password-protected redis-server.

| measure | value |
|---|---|
| cold build: debootstrap + install, master (s) | ${cold ? `${cold.totalSeconds} (debootstrap ${cold.debootstrapSeconds}, install ${cold.installSeconds})` : 'not measured (--quick)'} |
| warm build: cached rootfs + install (s) | master ${warmSeconds.master}, media ${warmSeconds.media} |
| start to GET /ready = 200 (ms, ${BOOTS === 1 ? 'one boot' : `median of ${BOOTS}`}) | master ${readyMs.master}, media ${readyMs.media} |
| ready runs (ms) | master ${readyRuns.master.join(', ')}; media ${readyRuns.media.join(', ')} |
| load average (1 min) at start | ${loadAtStart} |

Every install downloads its packages and Node.js again (a fresh root file system each time), so the
warm figure is mostly apt-get and the ~50 MB download; the cache saves only debootstrap. Ready time
includes reading the settings and secrets with the AWS SDK, IMDSv2 and the TLS connection to Redis.
`,
  );
}

/** Unpacks `tarball` and installs `role` in it; seconds for both. */
function timedInstall(tarball: string, role: NodeRole): number {
  const start = Date.now();
  const rootfs = freshRootfs(tarball, `bench-cold-${role}`);
  try {
    installRole(rootfs, role);
  } finally {
    rootfs.dispose();
  }
  return round((Date.now() - start) / 1000);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
