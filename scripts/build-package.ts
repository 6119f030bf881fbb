/**
 * Builds what the npm package ships into dist/ (`npm run build:package`; `npm pack` runs it first):
 *
 * - dist/node/: CommonJS for Node (tsc): the constructs and the Node client, and beside them the
 *   TypeScript sources and assets the constructs bundle at synth (each node role's runtime, the
 *   watchdog Lambda's entry, the install script), where their `__dirname` paths expect them.
 * - dist/types/: the declarations (tsc), kept apart from those sources so that TypeScript never
 *   reads a shipped .ts in place of its .d.ts.
 * - dist/browser/client.js: the client SDK for browsers, one ES module (esbuild), with no zod and no
 *   Node module in it (checked here, so a build never ships one).
 *
 * Run: npx tsx scripts/build-package.ts
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type BuildOptions, type Metafile } from 'esbuild';

const ROOT = join(__dirname, '..');
const DIST = join(ROOT, 'dist');
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;

/** The browser SDK's build; bench/bundle.ts measures the same one minified. */
export const BROWSER_CLIENT = {
  absWorkingDir: ROOT,
  entryPoints: ['runtime/client/index.ts'],
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  metafile: true as const,
  logLevel: 'warning',
} satisfies BuildOptions;

/**
 * Inputs of a browser bundle that must not be in it: the SDK depends on no package (zod, `ws`: any
 * would be a package of the app's bundle too) and imports no Node module.
 */
export function forbiddenBrowserInputs(metafile: Metafile): string[] {
  return Object.entries(metafile.inputs)
    .filter(([path, input]) => path.includes('node_modules/') || input.imports.some((i) => i.external))
    .map(([path]) => path);
}

async function buildPackage(): Promise<void> {
  rmSync(DIST, { recursive: true, force: true });
  const tscBin = require.resolve('typescript/bin/tsc');
  const tsc = spawnSync(process.execPath, [tscBin, '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (tsc.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed (${tsc.status ?? tsc.signal})`);
  copySynthInputs();
  const browser = await build({
    ...BROWSER_CLIENT,
    outfile: join(DIST, 'browser', 'client.js'),
    sourcemap: true,
  });
  const forbidden = forbiddenBrowserInputs(browser.metafile);
  if (forbidden.length > 0) throw new Error(`the browser client bundles ${forbidden.join(', ')}`);
  const missing = exportTargets().filter((target) => !existsSync(join(ROOT, target)));
  if (missing.length > 0)
    throw new Error(`package.json points at files the build did not make: ${missing.join(', ')}`);
}

/**
 * What the constructs read at synth by path: the runtime's sources (NodeSoftware bundles a role's
 * runtime/<role>/main.ts), each construct's Lambda entry (handler.ts) and its assets/ folder, and
 * the package's name and version (runtime/node/runtime.ts reports ../../package.json's version).
 */
function copySynthInputs(): void {
  const into = join(DIST, 'node');
  cpSync(join(ROOT, 'runtime'), join(into, 'runtime'), {
    recursive: true,
    filter: (path) => !path.endsWith('.md'),
  });
  const { name, version } = PACKAGE;
  writeFileSync(join(into, 'package.json'), JSON.stringify({ name, version }, null, 2) + '\n');
  for (const construct of readdirSync(join(ROOT, 'constructs'), { withFileTypes: true })) {
    if (!construct.isDirectory()) continue;
    for (const file of ['handler.ts', 'assets']) {
      const from = join(ROOT, 'constructs', construct.name, file);
      if (existsSync(from)) cpSync(from, join(into, 'constructs', construct.name, file), { recursive: true });
    }
  }
}

/** Every file package.json's main, types, exports and typesVersions name. */
function exportTargets(): string[] {
  const targets: string[] = [];
  const collect = (value: unknown): void => {
    if (typeof value === 'string') targets.push(value);
    else if (value && typeof value === 'object') Object.values(value).forEach(collect);
  };
  [PACKAGE.main, PACKAGE.types, PACKAGE.exports, PACKAGE.typesVersions].forEach(collect);
  return [...new Set(targets)];
}

if (require.main === module) {
  buildPackage().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
