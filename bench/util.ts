import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';

export function benchDir(): { path: string; remove: () => void } {
  const path = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'vellum-bench-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function printTable(title: string, rows: Array<Record<string, string | number>>): void {
  process.stdout.write(`\n${title}\n`);
  console.table(rows);
}

/** Keep the figures of a run as JSON under bench/results/ for docs/benchmarks.md. */
export function record(name: string, rows: unknown): void {
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const machine = { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version };
  writeFileSync(
    join(dir, `${name}.json`),
    JSON.stringify({ at: new Date().toISOString(), machine, rows }, null, 2),
  );
}
