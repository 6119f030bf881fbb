import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ILocalBundling } from 'aws-cdk-lib';

/** Modules of the runtime's dependencies that are optional at run time and must not be bundled. */
const OPTIONAL_MODULES = ['bufferutil', 'utf-8-validate'];

/**
 * Bundles TypeScript entry points, each with its dependencies (the AWS SDK included: nodes have no SDK
 * of their own), into one CommonJS file for Node.js 20+ with the esbuild binary from npm (no Docker).
 * Each bundle is written through stdout so that esbuild resolves the inline source map's paths against
 * `workingDirectory` rather than a random temporary directory: the same sources then always give the
 * same bytes, and so the same asset hash.
 */
export class EsbuildBundling implements ILocalBundling {
  /**
   * @param entries output file name (e.g. `main.js`) to the absolute path of its entry point
   * @param workingDirectory directory whose `node_modules` holds esbuild and the runtime's dependencies
   */
  constructor(
    private readonly entries: Readonly<Record<string, string>>,
    private readonly workingDirectory: string,
  ) {}

  public tryBundle(outputDir: string): boolean {
    for (const [file, entry] of Object.entries(this.entries)) {
      fs.writeFileSync(path.join(outputDir, file), this.bundle(entry));
    }
    return true;
  }

  private bundle(entry: string): Buffer {
    const args = [
      path.relative(this.workingDirectory, entry),
      '--bundle',
      '--platform=node',
      '--target=node20',
      '--format=cjs',
      '--sourcemap=inline',
      '--sources-content=false',
      '--legal-comments=none',
      '--log-level=warning',
      ...OPTIONAL_MODULES.map((m) => `--external:${m}`),
    ];
    const result = spawnSync(esbuildBinary(this.workingDirectory), args, {
      cwd: this.workingDirectory,
      maxBuffer: 256 * 1024 * 1024,
    });
    if (result.error || result.status !== 0) {
      const reason = result.error?.message ?? result.stderr.toString().trim();
      throw new Error(`esbuild could not bundle ${entry}: ${reason}`);
    }
    return result.stdout;
  }
}

/** The esbuild binary installed from npm for `workingDirectory`. */
function esbuildBinary(workingDirectory: string): string {
  const packageJson = require.resolve('esbuild/package.json', { paths: [workingDirectory] });
  return path.join(path.dirname(packageJson), 'bin', 'esbuild');
}
