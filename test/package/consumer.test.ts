import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { build } from 'esbuild';

/**
 * The npm package as another app uses it: `npm pack`, the tarball installed into a fresh app under the
 * OS temp folder, then a CDK app with RtcHaCluster in an imported VPC, a browser app on the client SDK
 * (type-checked with the DOM and no @types/node, bundled with esbuild), and Node apps on the Node
 * client. Offline: the app's dependencies are links to this checkout's node_modules, each one the
 * package declares and nothing else, so npm installs only the tarball. The tarball is cached under
 * the OS temp folder, keyed by what goes into it.
 */
const ROOT = join(__dirname, '..', '..');
const CACHE = join(tmpdir(), `rtc-ha-${userInfo().uid}`, 'package');
/** What goes into the tarball: a change to any of it packs again. */
const PACKED_INPUTS = [
  'package.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'README.md',
  'scripts',
  'constructs',
  'runtime',
];
/** Tools the test runs in the app, linked after the install (npm prunes what the app does not declare). */
const TOOLS = ['typescript', '@types/node'];

let app: string;

beforeAll(() => {
  const tarball = packedTarball();
  app = mkdtempSync(join(tmpdir(), 'rtc-ha-consumer-'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  const { dependencies, peerDependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    peerDependencies: Record<string, string>;
  };
  // The app brings aws-cdk-lib and constructs itself (the package's peers), as a CDK app does.
  link([...Object.keys(dependencies), ...Object.keys(peerDependencies)]);
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball]);
  link(TOOLS);
}, 120_000);

afterAll(() => {
  if (app) rmSync(app, { recursive: true, force: true });
});

test('a CDK app synthesizes RtcHaCluster in an imported VPC', () => {
  // GIVEN an app on CommonJS and TypeScript's default resolution for it (main and types, no exports)
  write('cdk-app.ts', CDK_APP);
  write('tsconfig.json', {
    compilerOptions: {
      strict: true,
      target: 'ES2022',
      module: 'commonjs',
      types: ['node'],
      skipLibCheck: true,
    },
  });

  // WHEN it is compiled and run
  tsc('tsconfig.json');
  run('node', ['cdk-app.js']);

  // THEN the cluster is in the given VPC, with the runtimes bundled from the package's sources
  const template = JSON.parse(readFileSync(join(app, 'cdk.out', 'Consumer.template.json'), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  };
  const resources = Object.values(template.Resources);
  const ofType = (type: string) => resources.filter((r) => r.Type === type);
  expect(ofType('AWS::EC2::VPC')).toEqual([]);
  expect(ofType('AWS::ElasticLoadBalancingV2::LoadBalancer')).toHaveLength(1);
  expect(ofType('AWS::AutoScaling::AutoScalingGroup')).toHaveLength(2);
  expect(ofType('AWS::ElastiCache::SubnetGroup')[0].Properties?.SubnetIds).toEqual([
    'subnet-0a1b2c3d4e5f60003',
    'subnet-0a1b2c3d4e5f60004',
  ]);
  const bundles = readdirSync(join(app, 'cdk.out')).filter((f) =>
    existsSync(join(app, 'cdk.out', f, 'main.js')),
  );
  expect(bundles).toHaveLength(2); // the master's and the media node's runtime
}, 120_000);

test("a browser app type-checks with the DOM's types alone and bundles without zod or Node modules", async () => {
  // GIVEN a page's script that passes the DOM's WebSocket and RTCPeerConnection and types its signaling
  write('web/app.ts', WEB_APP);
  write('web/tsconfig.json', {
    compilerOptions: {
      strict: true,
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'bundler',
      lib: ['ES2022', 'DOM'],
      types: [],
      noEmit: true,
    },
    files: ['app.ts'],
  });

  // WHEN it is type-checked and bundled
  const typeFiles = tsc('web/tsconfig.json', '--listFilesOnly')
    .split('\n')
    .filter((f) => f && !f.includes('/typescript/lib/'));
  tsc('web/tsconfig.json');
  const bundle = await build({
    absWorkingDir: app,
    entryPoints: ['web/app.ts'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    minify: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });

  // THEN its types are the app's and the client's declarations, and its code the client's bundle
  expect(typeFiles.map((f) => relative(app, f)).filter((f) => !f.startsWith('node_modules/rtc-ha/'))).toEqual(
    ['web/app.ts'],
  );
  expect(Object.keys(bundle.metafile.inputs).sort()).toEqual([
    'node_modules/rtc-ha/dist/browser/client.js',
    'web/app.ts',
  ]);
});

test('Node apps require and import the Node client, and import the client', () => {
  const required = run('node', [
    '-e',
    "const c = require('rtc-ha/client/node'); console.log(typeof c.RtcHaNodeSession, typeof c.RtcHaAdmin)",
  ]);
  const imported = run('node', [
    '--input-type=module',
    '-e',
    "import { RtcHaNodeSession } from 'rtc-ha/client/node'; import { RtcHaAdmin, isOfferer } from 'rtc-ha/client';" +
      "console.log(typeof RtcHaNodeSession, typeof RtcHaAdmin, isOfferer('alice', 'bob'))",
  ]);

  expect(required.trim()).toBe('function function');
  expect(imported.trim()).toBe('function function true');
});

/** The tarball of this checkout's package: the cached one when nothing packed into it changed. */
function packedTarball(): string {
  const hash = createHash('sha256');
  for (const input of PACKED_INPUTS) hashInto(hash, input);
  const cached = join(CACHE, `rtc-ha-${hash.digest('hex').slice(0, 16)}.tgz`);
  if (existsSync(cached)) return cached;
  rmSync(CACHE, { recursive: true, force: true }); // older tarballs
  const out = mkdtempSync(join(tmpdir(), 'rtc-ha-pack-'));
  try {
    const [packed] = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', out], {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: 'pipe',
      }),
    ) as { filename: string }[];
    mkdirSync(CACHE, { recursive: true });
    renameSync(join(out, packed.filename), cached);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return cached;
}

function hashInto(hash: ReturnType<typeof createHash>, path: string): void {
  const full = join(ROOT, path);
  if (!existsSync(full)) return;
  if (statSync(full).isDirectory()) {
    for (const entry of readdirSync(full).sort()) hashInto(hash, join(path, entry));
  } else {
    hash.update(`${path}\0`).update(readFileSync(full));
  }
}

/** Links packages from this checkout into the app. */
function link(names: readonly string[]): void {
  for (const name of names) {
    const at = join(app, 'node_modules', name);
    mkdirSync(dirname(at), { recursive: true });
    rmSync(at, { recursive: true, force: true });
    symlinkSync(join(ROOT, 'node_modules', name), at);
  }
}

function write(file: string, content: string | object): void {
  mkdirSync(dirname(join(app, file)), { recursive: true });
  writeFileSync(join(app, file), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
}

/** Runs `command` in the app; throws with its output when it fails. */
function run(command: string, args: readonly string[]): string {
  try {
    return execFileSync(command, args, { cwd: app, encoding: 'utf8', stdio: 'pipe', timeout: 60_000 });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed:\n${stdout ?? ''}\n${stderr ?? ''}`.slice(0, 8_000));
  }
}

function tsc(project: string, ...args: string[]): string {
  return run(process.execPath, [
    join(app, 'node_modules', 'typescript', 'bin', 'tsc'),
    '-p',
    project,
    ...args,
  ]);
}

const CDK_APP = `
import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { RtcHaCluster } from 'rtc-ha';

const app = new App({ outdir: 'cdk.out' });
const stack = new Stack(app, 'Consumer', { env: { account: '111111111111', region: 'eu-west-1' } });
const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
  vpcId: 'vpc-0123456789abcdef0',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  publicSubnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
  privateSubnetIds: ['subnet-0a1b2c3d4e5f60003', 'subnet-0a1b2c3d4e5f60004'],
});
new RtcHaCluster(stack, 'Rtc', { vpc });
app.synth();
`;

const WEB_APP = `
import { RtcHaSession, isOfferer } from 'rtc-ha/client';

const session = new RtcHaSession({
  url: 'wss://rtc.example.com/ws',
  token: new URLSearchParams(location.search).get('token') ?? '',
  WebSocket,
  rtc: { RTCPeerConnection, MediaStream },
});
const pc = new RTCPeerConnection();
let peer = '';
pc.onicecandidate = ({ candidate }) => session.sendSignal(peer, 'candidate', candidate);
session.on('participantJoined', async ({ participant }) => {
  peer = participant.participantId;
  if (!isOfferer(session.info!.participantId, peer)) return;
  await pc.setLocalDescription(await pc.createOffer());
  session.sendDescription(peer, pc.localDescription!);
});
session.on('signal', async (signal) => {
  peer = signal.from;
  if (signal.kind === 'offer') {
    await pc.setRemoteDescription(signal.data);
    await pc.setLocalDescription(await pc.createAnswer());
    session.sendDescription(peer, pc.localDescription!);
  } else if (signal.kind === 'answer') {
    await pc.setRemoteDescription(signal.data);
  } else if (signal.kind === 'candidate') {
    await pc.addIceCandidate(signal.data ?? undefined);
  } else {
    await pc.setLocalDescription(await pc.createOffer({ iceRestart: signal.data.iceRestart }));
    session.sendDescription(peer, pc.localDescription!);
  }
});
session.on('resumed', ({ downtimeMs }) => {
  document.title = 'back after ' + downtimeMs + ' ms';
});
void session.connect();
`;
