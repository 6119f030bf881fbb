/**
 * Bundle benchmark: what the client SDK adds to a web app. The package's browser build
 * (scripts/build-package.ts, `rtc-ha/client`) minified by esbuild as an app's bundler would, its size
 * minified and gzipped (level 9), what of it comes from where, beside the figures from before the SDK
 * stopped importing zod.
 *
 * Run: npx tsx bench/bundle.ts [--quick]   (both profiles measure the same bundle: it is deterministic)
 */
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { BROWSER_CLIENT, forbiddenBrowserInputs } from '../scripts/build-package';
import { writeBenchResult } from './support/report';

/**
 * The same build at commit 9a49066, the last before runtime/contract/wire.ts: runtime/client/session.ts
 * imported CLOSE_CODES from the schema module, and with it zod (the figures issue 13 quotes).
 */
const BEFORE = { commit: '9a49066', minifiedBytes: 73_363, zodBytes: 59_436, gzipBytes: 19_019 };
const AIM_GZIP_KB = 12;

const kb = (bytes: number) => Math.round(bytes / 100) / 10;

async function main(): Promise<void> {
  const { metafile, outputFiles } = await build({ ...BROWSER_CLIENT, minify: true, write: false });
  const code = outputFiles[0].contents;
  const [output] = Object.values(metafile.outputs);
  const modules = Object.entries(output.inputs)
    .map(([path, input]) => ({ path, kb: kb(input.bytesInOutput) }))
    .filter((m) => m.kb > 0)
    .sort((a, b) => b.kb - a.kb);
  const zodBytes = Object.entries(output.inputs)
    .filter(([path]) => path.includes('node_modules/zod/'))
    .reduce((sum, [, input]) => sum + input.bytesInOutput, 0);
  const result = {
    minifiedKB: kb(code.length),
    gzipKB: kb(gzipSync(code, { level: 9 }).length),
    zodKB: kb(zodBytes),
    forbiddenInputs: forbiddenBrowserInputs(metafile),
    modules,
    before: {
      commit: BEFORE.commit,
      minifiedKB: kb(BEFORE.minifiedBytes),
      zodKB: kb(BEFORE.zodBytes),
      gzipKB: kb(BEFORE.gzipBytes),
    },
    aimGzipKB: AIM_GZIP_KB,
  };
  writeBenchResult(
    'bundle',
    result,
    `
The client SDK for browsers (\`runtime/client/index.ts\`, the package's \`rtc-ha/client\`): esbuild, ES module,
target es2022, minified; gzip level 9. KB are 1000 bytes.

| | minified | of it zod | gzipped |
|---|---|---|---|
| now | ${result.minifiedKB} KB | ${result.zodKB} KB | ${result.gzipKB} KB |
| before (${BEFORE.commit}: session.ts imported a value from the schema module) | ${result.before.minifiedKB} KB | ${result.before.zodKB} KB | ${result.before.gzipKB} KB |

Packages or Node modules in the bundle: ${result.forbiddenInputs.length === 0 ? 'none' : result.forbiddenInputs.join(', ')}.

| module | minified KB |
|---|---|
${modules.map((m) => `| ${m.path} | ${m.kb} |`).join('\n')}

Aim: no zod, no package, no Node module; under ${AIM_GZIP_KB} KB gzipped.
`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
