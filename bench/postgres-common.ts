// Shared parts of the PostgreSQL benchmarks: the server they use, fresh
// databases, engines on them, and the insert and read loops that both the
// benchmark process and its second engine process run.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { dom } from 'ion-js';
import { Engine, PostgresStore, type Ledger } from '../src/engine/index.js';
import { customerRecord, profileFlags } from './util.js';

/** Return the URL of the server to measure against; `scripts/postgres-cluster.sh` starts one. */
export function serverUrl(): string {
  const url = process.env.VELLUM_BENCH_POSTGRES_URL ?? process.env.VELLUM_TEST_POSTGRES_URL;
  if (url === undefined) {
    throw new Error(
      'set VELLUM_BENCH_POSTGRES_URL to a PostgreSQL server on 127.0.0.1 (source scripts/postgres-cluster.sh and run start_postgres_cluster for a throwaway one)',
    );
  }
  return url;
}

/** Create an empty database on the server and return its URL. */
export async function createDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `vellum_bench_${randomBytes(5).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: serverUrl() });
    await client.connect();
    await client.query(sql);
    await client.end();
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE ${name} WITH (FORCE)`) };
}

export async function openEngine(url: string, dataDir: string): Promise<Engine> {
  const store = await PostgresStore.open({ url, poolSize: 8 });
  return Engine.open({ dataDir, store });
}

/** Run `writers` insert loops until `deadline` (ms since the epoch); ids start at `firstId`. */
export async function insertLoop(
  ledger: Ledger,
  writers: number,
  firstId: number,
  deadline: number,
): Promise<number> {
  let commits = 0;
  let next = firstId;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (Date.now() < deadline) {
        const tx = ledger.begin();
        await tx.insert('Customer', customerRecord(next++));
        await tx.commit();
        commits += 1;
      }
    }),
  );
  return commits;
}

/**
 * Run `readers` loops of 100-lookup transactions over ids `[0, documents)`
 * until `deadline` (ms since the epoch) or, with `once`, until every id was
 * read once. Returns the number of reads.
 */
export async function readLoop(
  ledger: Ledger,
  readers: number,
  documents: number,
  deadline: number,
  once = false,
): Promise<number> {
  let reads = 0;
  let position = 0;
  const more = () => (once ? position < documents : Date.now() < deadline);
  await Promise.all(
    Array.from({ length: readers }, async () => {
      while (more()) {
        const tx = ledger.begin();
        for (let i = 0; i < 100 && more(); i++) {
          const id = (position++ * 7919) % documents;
          const found = await tx.lookup('Customer', 'id', dom.Value.from(id));
          if (found.length !== 1) {
            throw new Error(`id ${id}: expected 1 document, found ${found.length}`);
          }
          reads += 1;
        }
        await tx.commit();
      }
    }),
  );
  return reads;
}

/**
 * Start the second engine process (`postgres-worker.ts`). Once `ready`
 * resolves, `start(deadline)` lets it run the same loop until `deadline`
 * (ms since the epoch), and `done` resolves with its count.
 */
export function runWorker(args: {
  mode: 'insert' | 'read' | 'read-once';
  url: string;
  dataDir: string;
  concurrency: number;
  extra: number;
}): { ready: Promise<void>; start: (deadline: number) => void; done: Promise<number> } {
  const script = fileURLToPath(new URL('./postgres-worker.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    [
      ...profileFlags(),
      '--import',
      'tsx',
      script,
      args.mode,
      args.url,
      args.dataDir,
      String(args.concurrency),
      String(args.extra),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let output = '';
  let signalReady: () => void;
  const ready = new Promise<void>((resolve) => (signalReady = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (output.includes('ready\n')) signalReady();
  });
  const done = new Promise<number>((resolve, reject) => {
    child.on('exit', (code) => {
      const match = /count (\d+)/.exec(output);
      if (code === 0 && match !== null) resolve(Number(match[1]));
      else reject(new Error(`benchmark worker exited with ${code}: ${output}`));
    });
  });
  return { ready, start: (deadline) => child.stdin.end(`${deadline}\n`), done };
}
