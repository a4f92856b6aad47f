import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** Read the user plus system CPU seconds that a process has used, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Return the Node.js flags that make a child process write a V8 CPU profile
 * to the directory in BENCH_PROFILE_DIR when it exits, or none when it is unset.
 */
export function profileFlags(): string[] {
  const dir = process.env.BENCH_PROFILE_DIR;
  return dir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

/**
 * Start a TypeScript program with tsx and resolve with the first loopback
 * URL it prints on standard output or standard error (where `vellum serve`
 * prints its banner). Its standard error is passed through.
 */
export function startChild(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...profileFlags(), '--import', 'tsx', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.pipe(process.stderr);
  return new Promise((resolve, reject) => {
    let output = '';
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      if (url !== undefined) resolve({ child, url });
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', (code) => reject(new Error(`child exited with ${code}: ${output}`)));
  });
}

/** Stop a child process with SIGTERM and wait for it to exit. */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Return the insert benchmarks' six-field record for `id`, as a plain object. */
export function customerRecord(id: number): {
  id: number;
  name: string;
  email: string;
  amount: number;
  createdAt: Date;
  active: boolean;
} {
  return {
    id,
    name: `Customer ${id}`,
    email: `customer${id}@example.com`,
    amount: 1250 + (id % 100),
    createdAt: new Date(1_764_000_000_000 + id),
    active: id % 2 === 0,
  };
}
