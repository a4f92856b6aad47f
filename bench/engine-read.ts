// Indexed point reads per second, in-process: `lookup` on an indexed field of
// a table of 10,000 documents, each result decrypted, from a single caller.
import { dom } from 'ion-js';
import { Engine } from '../src/engine/index.js';
import { benchDir, printTable, record } from './util.js';

const DOCUMENTS = 10_000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const READS_PER_TRANSACTION = 100;

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

  let reads = 0;
  let found = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  while (performance.now() < deadline) {
    const tx = ledger.begin();
    for (let i = 0; i < READS_PER_TRANSACTION; i++) {
      const key = keys[(reads * 7919) % DOCUMENTS]!;
      found += (await tx.lookup('Customer', 'id', key)).length;
      reads += 1;
    }
    await tx.commit();
  }
  const rate = reads / ((performance.now() - started) / 1000);
  if (found !== reads) throw new Error(`expected ${reads} documents, found ${found}`);
  await engine.close();
  dir.remove();

  const rows = [
    {
      documents: DOCUMENTS,
      'reads per transaction': READS_PER_TRANSACTION,
      'reads/s': Math.round(rate),
    },
  ];
  printTable('Indexed point reads, in-process', rows);
  record('engine-read', rows);
}

await main();
