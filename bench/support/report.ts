import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

/** `--quick`: the short profile every benchmark offers (under 60 s). */
export const quick = process.argv.includes('--quick');

/** Nearest-rank percentiles over `values` (ms or any unit); zeros for an empty list. */
export function percentiles(values: readonly number[]): { p50: number; p99: number; max: number; n: number } {
  if (values.length === 0) return { p50: 0, p99: 0, max: 0, n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  const round = (v: number) => Math.round(v * 10) / 10;
  return {
    p50: round(rank(50)),
    p99: round(rank(99)),
    max: round(sorted[sorted.length - 1]),
    n: sorted.length,
  };
}

/** Progress on stderr, so the JSON result stays the last line of stdout. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/**
 * Writes bench/results/NAME.json and NAME.md and prints the JSON result as the last stdout line.
 * `markdown` is the body under a heading that names the machine and the profile.
 */
export function writeBenchResult(name: string, result: Record<string, unknown>, markdown: string): void {
  const dir = join(__dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const full = {
    bench: name,
    ...result,
    profile: quick ? 'quick' : 'full',
    machine: { cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    date: new Date().toISOString(),
  };
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(full, null, 2) + '\n');
  writeFileSync(
    join(dir, `${name}.md`),
    `# bench: ${name}\n\nProfile: ${full.profile}; ${full.machine.cores} cores, ${full.machine.memoryGiB} GiB, Node ${process.version}; ${full.date}.\n` +
      `Run: \`npx tsx bench/${name}.ts${quick ? ' --quick' : ''}\`\n\n${markdown.trim()}\n`,
  );
  process.stdout.write(JSON.stringify(full) + '\n');
}
