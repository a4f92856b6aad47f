// Rekey speed, in-process on SQLite: a ledger of DOCUMENTS documents
// (40 per transaction, one indexed field) is rekeyed with the default batch
// sizes while one caller reads documents by id, one read per transaction.
// Reports the re-encryption rate in document revisions per second, and the
// read latency percentiles during the rekey against the same reader's just
// before it, in the same run.
import { dom } from 'ion-js';
import { Engine, type Ledger } from '../src/engine/index.js';
import { benchDir, printTable, record } from './util.js';

const DOCUMENTS = Number(process.env.BENCH_DOCUMENTS ?? 20_000);
const BASELINE_MS = Number(process.env.BENCH_BASELINE_MS ?? 2_000);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** Read random documents until `until()` is true; returns each read's latency in ms. */
async function readUntil(ledger: Ledger, ids: string[], until: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  let seed = 12_345;
  while (!until()) {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    const id = ids[seed % ids.length]!;
    const started = performance.now();
    const tx = ledger.begin();
    const found = await tx.get('Customer', id);
    await tx.commit();
    latencies.push(performance.now() - started);
    if (found === undefined) throw new Error(`document ${id} is missing`);
  }
  return latencies;
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
  const ids: string[] = [];
  for (let start = 0; start < DOCUMENTS; start += 40) {
    ids.push(
      ...(await ledger.run(async (t) => {
        const written: string[] = [];
        for (let id = start; id < Math.min(start + 40, DOCUMENTS); id++) {
          written.push(
            await t.insert(
              'Customer',
              dom.Value.from({ id, name: `Customer ${id}`, email: `c${id}@example.com` }),
            ),
          );
        }
        return written;
      })),
    );
  }

  const baselineEnd = performance.now() + BASELINE_MS;
  const before = await readUntil(ledger, ids, () => performance.now() > baselineEnd);

  let done = false;
  const started = performance.now();
  await engine.rekeyLedger('bench');
  const finished = engine.waitForRekey('bench').then((status) => {
    done = true;
    return status;
  });
  const during = await readUntil(ledger, ids, () => done);
  const status = await finished;
  const seconds = (performance.now() - started) / 1000;
  if (status.rekey?.state !== 'DONE') throw new Error(`rekey ended ${status.rekey?.state}`);
  await engine.close();
  dir.remove();

  before.sort((a, b) => a - b);
  during.sort((a, b) => a - b);
  const rekey = status.rekey;
  const rows = [
    {
      documents: DOCUMENTS,
      'revisions re-encrypted': rekey.documentsResealed,
      'index entries rebuilt': rekey.indexEntriesReplaced,
      'rekey s': Number(seconds.toFixed(2)),
      'documents/s': Math.round(rekey.documentsResealed / seconds),
    },
  ];
  const reads = [
    {
      phase: 'before the rekey',
      reads: before.length,
      'p50 ms': Number(percentile(before, 50).toFixed(3)),
      'p99 ms': Number(percentile(before, 99).toFixed(3)),
    },
    {
      phase: 'during the rekey',
      reads: during.length,
      'p50 ms': Number(percentile(during, 50).toFixed(3)),
      'p99 ms': Number(percentile(during, 99).toFixed(3)),
    },
  ];
  printTable('Rekey, in-process on SQLite', rows);
  printTable('Reads by document id, one per transaction', reads);
  record('rekey', { rekey: rows, reads });
}

await main();
