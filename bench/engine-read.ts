// Indexed point reads per second, in-process: `lookup` on an indexed field of
// a table of 10,000 documents from a single caller, 100 reads per
// transaction. The cold pass reads each key once from SQLite and decrypts
// it; the warm pass repeats keys and is served by the committed-read cache.
import { dom } from 'ion-js';
import { Engine, type Ledger } from '../src/engine/index.js';
import { benchDir, printTable, record } from './util.js';

const DOCUMENTS = 10_000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const READS_PER_TRANSACTION = 100;

/** Look keys up in transactions of READS_PER_TRANSACTION reads until `limit` reads or `ms` pass; returns reads/s. */
async function readLoop(
  ledger: Ledger,
  keys: dom.Value[],
  limit: number,
  ms: number,
): Promise<number> {
  let reads = 0;
  let found = 0;
  const started = performance.now();
  while (reads < limit && performance.now() - started < ms) {
    const tx = ledger.begin();
    for (let i = 0; i < READS_PER_TRANSACTION && reads < limit; i++) {
      const key = keys[(reads * 7919) % keys.length]!;
      found += (await tx.lookup('Customer', 'id', key)).length;
      reads += 1;
    }
    await tx.commit();
  }
  if (found !== reads) throw new Error(`expected ${reads} documents, found ${found}`);
  return reads / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const dir = benchDir();
  const engine = await Engine.open({ dataDir: dir.path });
  await engine.createLedger('bench');
  const ledger = await engine.ledger('bench');
  await ledger.run(async (t) => {
    t.createTable('Customer');
    await t.createIndex('Customer', 'id');
  });
  for (let start = 0; start < DOCUMENTS; start += 40) {
    await ledger.run(async (t) => {
      for (let id = start; id < Math.min(start + 40, DOCUMENTS); id++) {
        await t.insert(
          'Customer',
          dom.Value.from({ id, name: `Customer ${id}`, email: `c${id}@example.com` }),
        );
      }
    });
  }
  const keys = Array.from({ length: DOCUMENTS }, (_, id) => dom.Value.from(id));

  // Cold: every key once, so each lookup reads SQLite and decrypts.
  const cold = await readLoop(ledger, keys, DOCUMENTS, Number.POSITIVE_INFINITY);
  // Warm: the same keys again for SECONDS, served from the committed-read cache.
  const warm = await readLoop(ledger, keys, Number.POSITIVE_INFINITY, SECONDS * 1000);
  await engine.close();
  dir.remove();

  const rows = [
    { pass: 'cold (each key once)', documents: DOCUMENTS, 'reads/s': Math.round(cold) },
    { pass: 'warm (cached)', documents: DOCUMENTS, 'reads/s': Math.round(warm) },
  ];
  printTable('Indexed point reads, in-process', rows);
  record('engine-read', rows);
}

await main();
