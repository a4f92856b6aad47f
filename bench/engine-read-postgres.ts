// Indexed point reads per second on the PostgreSQL store: `lookup` on the
// indexed field of a 10,000-document table, 100 reads per transaction. The
// readers are 16 concurrent callers in one engine, then 16 in each of two
// engines in two processes on the same database. The cold pass reads each key once
// per engine, so every lookup queries PostgreSQL and decrypts the revision;
// the warm pass first reads every key once, untimed, then repeats keys, which
// each engine's read cache serves.
import { dom } from 'ion-js';
import { benchDir, printTable, record } from './util.js';
import { createDatabase, openEngine, readLoop, runWorker } from './postgres-common.js';

const DOCUMENTS = 10_000;
const READERS = 16;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

async function main(): Promise<void> {
  const database = await createDatabase();
  const dir = benchDir();
  const engine = await openEngine(database.url, dir.path);
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

  const rows: Array<Record<string, string | number>> = [];
  for (const engines of [1, 2] as const) {
    for (const pass of ['cold', 'warm'] as const) {
      // Each engine opens the ledger afresh, so its read cache starts empty.
      const measured = await openEngine(database.url, dir.path);
      const reader = await measured.ledger('bench');
      const once = pass === 'cold';
      if (!once) await readLoop(reader, READERS, DOCUMENTS, 0, true);

      const worker =
        engines === 2
          ? runWorker({
              mode: once ? 'read-once' : 'read',
              url: database.url,
              dataDir: dir.path,
              concurrency: READERS,
              extra: DOCUMENTS,
            })
          : undefined;
      await worker?.ready;

      const deadline = Date.now() + SECONDS * 1000;
      worker?.start(deadline);
      const started = performance.now();
      const [own, other] = await Promise.all([
        readLoop(reader, READERS, DOCUMENTS, deadline, once),
        worker?.done ?? 0,
      ]);
      const elapsed = (performance.now() - started) / 1000;
      await measured.close();

      rows.push({
        engines,
        pass: once ? 'cold (each key once per engine)' : 'warm (cached)',
        readers: READERS * engines,
        'reads/s': Math.round((own + other) / elapsed),
      });
    }
  }

  await engine.close();
  await database.drop();
  dir.remove();
  printTable('Indexed point reads on PostgreSQL', rows);
  record('engine-read-postgres', rows);
}

await main();
