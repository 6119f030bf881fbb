import { spawnSync, SpawnSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where debootstrap's result is kept between runs: outside the checkout, so `git clean` keeps it. */
export const CACHE_DIR = '/var/cache/rtc-ha-test';
const SUITE = 'bookworm';
const VARIANT = 'minbase';
/** Bump when the way the tarball is made changes, so old caches are not reused. */
const FORMAT = 1;

/** Progress lines on stderr: a cold build takes minutes and should not look hung. */
export function progress(message: string): void {
  process.stderr.write(`[node-image] ${message}\n`);
}

/** Runs a command to completion; throws with its output when it fails. */
export function run(command: string, args: readonly string[], options: SpawnSyncOptions = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.error || result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.error?.message ?? result.status}):\n${output}`,
    );
  }
  return String(result.stdout ?? '');
}

/** The Debian mirror this machine's apt uses (deb822 or one-line sources), else deb.debian.org. */
export function debianMirror(): string {
  const files = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'];
  for (const file of files.filter((f) => fs.existsSync(f))) {
    const text = fs.readFileSync(file, 'utf8');
    const deb822 = /^URIs:\s*(\S+\/debian)\/?\s*$/m.exec(text);
    const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s+bookworm\s/m.exec(text);
    const uri = deb822?.[1] ?? oneLine?.[1];
    if (uri) return uri;
  }
  return 'http://deb.debian.org/debian';
}

/** Debian's name for this machine's architecture. */
function debianArch(): string {
  return run('dpkg', ['--print-architecture']).trim();
}

export interface DebianTarball {
  readonly file: string;
  /** Whether this call ran debootstrap (a cold cache). */
  readonly built: boolean;
  readonly seconds: number;
}

/**
 * A tarball of `debootstrap --variant=minbase bookworm`, built once per mirror and architecture and
 * kept in `cacheDir`. Written under a temporary name and renamed, so a parallel or killed run never
 * leaves a half tarball under the real name.
 */
export function debianTarball(cacheDir = CACHE_DIR): DebianTarball {
  const start = Date.now();
  const mirror = debianMirror();
  const arch = debianArch();
  const key = createHash('sha256')
    .update(JSON.stringify({ SUITE, VARIANT, mirror, arch, FORMAT }))
    .digest('hex')
    .slice(0, 16);
  const file = path.join(cacheDir, `debian-${SUITE}-${VARIANT}-${arch}-${key}.tar`);
  if (fs.existsSync(file)) {
    progress(`Debian ${SUITE} root file system from the cache: ${file}`);
    return { file, built: false, seconds: 0 };
  }
  fs.mkdirSync(cacheDir, { recursive: true });
  const work = fs.mkdtempSync(path.join(cacheDir, 'build-'));
  try {
    progress(`debootstrap --variant=${VARIANT} ${SUITE} from ${mirror} (about a minute, cached afterwards)`);
    run('debootstrap', [`--variant=${VARIANT}`, `--arch=${arch}`, SUITE, path.join(work, 'root'), mirror]);
    run('tar', ['-C', path.join(work, 'root'), '-cf', path.join(work, 'root.tar'), '.']);
    fs.renameSync(path.join(work, 'root.tar'), file);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const seconds = (Date.now() - start) / 1000;
  progress(`Debian ${SUITE} root file system built in ${seconds.toFixed(1)} s: ${file}`);
  return { file, built: true, seconds };
}

/** A throwaway copy of the Debian root file system with /proc and /dev mounted, for chroot. */
export interface Rootfs {
  readonly dir: string;
  /** `chroot dir command...` as root; throws with the output when it fails. */
  chroot(args: readonly string[], env?: NodeJS.ProcessEnv): string;
  /** The path inside the root file system of `inside` (an absolute path in the chroot). */
  at(inside: string): string;
  /** Unmounts everything and deletes the copy; safe to call twice and after a failed setup. */
  dispose(): void;
}

export interface RootfsOptions {
  /**
   * dpkg's `force-unsafe-io`: no fsync of what it unpacks (3 to 5 s of a pair node's 20-odd-second
   * install on a 2-core machine). What gets installed, and how, is unchanged; only a power cut could lose
   * it, which does not matter to a throwaway file system (a test), but would understate an image build's
   * time (a benchmark).
   *
   * @default false
   */
  readonly unsafeIo?: boolean;
}

/** Unpacks `tarball` into a fresh directory and makes it usable through chroot on this host's network. */
export function freshRootfs(tarball: string, label: string, options: RootfsOptions = {}): Rootfs {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rtc-ha-image-${label}-`));
  const mounted: string[] = [];
  const rootfs: Rootfs = {
    dir,
    at: (inside) => path.join(dir, inside),
    chroot: (args, env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' }) =>
      run('chroot', [dir, ...args], { env }),
    dispose: () => {
      for (const target of mounted.splice(0).reverse()) {
        if (spawnSync('umount', ['-R', target]).status !== 0) spawnSync('umount', ['-R', '-l', target]);
      }
      // Never delete through a mount that is still there: that would delete the host's /dev.
      const left = mountsUnder(dir);
      if (left.length > 0) throw new Error(`still mounted, not deleting ${dir}: ${left.join(', ')}`);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    run('tar', ['-C', dir, '-xf', tarball]);
    run('mount', ['-t', 'proc', 'proc', rootfs.at('/proc')]);
    mounted.push(rootfs.at('/proc'));
    run('mount', ['--rbind', '/dev', rootfs.at('/dev')]);
    mounted.push(rootfs.at('/dev'));
    run('mount', ['--make-rslave', rootfs.at('/dev')]);
    // The chroot shares the host's network: its name servers, and the CAs the host adds for its
    // own egress (a TLS-inspecting proxy), which update-ca-certificates picks up on install.
    fs.copyFileSync('/etc/resolv.conf', rootfs.at('/etc/resolv.conf'));
    const localCas = '/usr/local/share/ca-certificates';
    if (fs.existsSync(localCas)) fs.cpSync(localCas, rootfs.at(localCas), { recursive: true });
    if (options.unsafeIo) {
      fs.writeFileSync(rootfs.at('/etc/dpkg/dpkg.cfg.d/rtc-ha-test-unsafe-io'), 'force-unsafe-io\n');
    }
  } catch (err) {
    rootfs.dispose();
    throw err;
  }
  return rootfs;
}

function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((target) => target === dir || target.startsWith(`${dir}/`));
}
