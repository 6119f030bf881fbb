import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../support/app';

/** Runs the pinned CDK CLI from the project root, as the README and CI do, without AWS credentials. */
function cdkSynth(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_')));
  return spawnSync('npx', ['cdk', 'synth', '--no-notices', '-q', ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    env: { ...env, CDK_DISABLE_CLI_TELEMETRY: 'true' },
  });
}

describe('npx cdk synth', () => {
  let out: string;
  beforeAll(() => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'rtc-ha-cdk-out-'));
  });
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  it('synthesizes the default app with the pinned CLI, offline and without credentials', () => {
    // GIVEN no AWS credentials  WHEN the CLI synthesizes the default app
    const result = cdkSynth('-o', out);
    // THEN
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.status).toBe(0);
    const template = JSON.parse(fs.readFileSync(path.join(out, 'RtcHa.template.json'), 'utf8'));
    expect(Object.keys(template.Resources).length).toBeGreaterThan(50);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest.missing).toBeUndefined();
    // Each fleet's app: a folder with the runtime and the log shipper, baked into its image.
    const apps = fs
      .readdirSync(out)
      .filter((f) => fs.existsSync(path.join(out, f, 'log-shipper.js')))
      .map((f) =>
        fs
          .readdirSync(path.join(out, f))
          .filter((name) => name.endsWith('.js'))
          .sort(),
      );
    expect(apps).toEqual([
      ['log-shipper.js', 'main.js'],
      ['log-shipper.js', 'main.js'],
    ]);
  }, 180_000);

  it('fails on an invalid configuration, listing every problem', () => {
    const result = cdkSynth(
      '-o',
      out,
      '-c',
      'rtc-ha={"masters":{"minCapacity":1},"media":{"mediaPortMin":50000,"mediaPortMax":40000}}',
    );
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('Invalid rtc-ha configuration:');
    expect(result.stderr).toContain('masters.minCapacity must be an integer from 2 to 999 (got 1)');
    expect(result.stderr).toContain('media.mediaPortMin must not exceed mediaPortMax (50000 > 40000)');
  }, 120_000);
});
