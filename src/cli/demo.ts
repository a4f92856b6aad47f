import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dom, load } from 'ion-js';
import { Engine, type Ledger } from '../engine/index.js';
import { verifyRevision } from '../verifier/index.js';
import { verifyLedger } from './verify-ledger.js';

export interface DemoOptions {
  dataDir?: string;
  records: number;
  writers: number;
}

const LEDGER = 'qldb-kms-ledger-demo';

/**
 * Run the reference workload on an embedded ledger. It creates table `Test`
 * with an index on `id`, creates records from concurrent writers and reads
 * each back through the index. Then it checks revision proofs and the whole
 * journal with the standalone verifier.
 */
export async function runDemo(options: DemoOptions): Promise<void> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'vellum-demo-'));
  const print = (line: string) => process.stdout.write(`${line}\n`);
  print(`Vellum demo: embedded engine, data directory ${dataDir}`);

  const engine = await Engine.open({ dataDir });
  try {
    const name = `${LEDGER}-${Date.now().toString(36)}`;
    await engine.createLedger(name, { permissionsMode: 'STANDARD', deletionProtection: false });
    const ledger = await engine.ledger(name);
    print(`1. created ledger ${name}`);

    await ledger.run(async (t) => {
      t.recordStatement('CREATE TABLE Test');
      t.createTable('Test');
      t.recordStatement('CREATE INDEX ON Test (id)');
      await t.createIndex('Test', 'id');
    });
    print('2. CREATE TABLE Test; CREATE INDEX ON Test (id)');

    const created = await timed(() => createRecords(ledger, options.records, options.writers));
    print(
      `3. created ${options.records} records with ${options.writers} writers: ${rate(options.records, created.ms)}`,
    );

    const read = await timed(() => readRecords(ledger, options.records, options.writers));
    print(
      `4. read ${read.value} of ${options.records} records back by id: ${rate(options.records, read.ms)}`,
    );
    if (read.value !== options.records)
      throw new Error(`expected ${options.records} records, found ${read.value}`);

    const proofs = await verifySampleRevisions(ledger, 3);
    print(`5. verified ${proofs} revision proofs against the ledger digest`);

    const journal = await timed(() => verifyLedger(ledger));
    print(
      `6. verified the whole journal: ${journal.value.blocks} blocks, digest ` +
        `${Buffer.from(journal.value.digest).toString('base64')} (${(journal.ms / 1000).toFixed(2)} s)`,
    );
    print('Demo finished: every record was written, read back and verified.');
  } finally {
    await engine.close();
    if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
  }
}

async function createRecords(ledger: Ledger, records: number, writers: number): Promise<void> {
  let next = 1;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next <= records) {
        const id = next++;
        const record = load(
          `{id: ${id}, name: "record ${id}", createdAt: ${new Date().toISOString()}}`,
        )!;
        await ledger.run(async (t) => {
          t.recordStatement('INSERT INTO Test ?', [record]);
          await t.insert('Test', record);
        });
      }
    }),
  );
}

async function readRecords(ledger: Ledger, records: number, readers: number): Promise<number> {
  let next = 1;
  let found = 0;
  await Promise.all(
    Array.from({ length: readers }, async () => {
      while (next <= records) {
        const id = dom.Value.from(next++);
        const matches = await ledger.run(async (t) => {
          t.recordStatement('SELECT * FROM Test WHERE id = ?', [id]);
          return t.lookup('Test', 'id', id);
        });
        found += matches.length;
      }
    }),
  );
  return found;
}

async function verifySampleRevisions(ledger: Ledger, count: number): Promise<number> {
  const { digest, tipAddress } = await ledger.digest();
  const documents = await ledger.run(async (t) => t.scan('Test'));
  let verified = 0;
  for (let i = 0; i < count && documents.length > 0; i++) {
    const document = documents[Math.floor(Math.random() * documents.length)]!;
    const { revision, proof } = await ledger.getRevision(
      document.blockAddress!.sequenceNo,
      document.id,
      tipAddress.sequenceNo,
    );
    verifyRevision({ revision, proof: proof!, digest, tipAddress });
    verified += 1;
  }
  return verified;
}

async function timed<T>(body: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await body();
  return { value, ms: performance.now() - started };
}

function rate(count: number, ms: number): string {
  return `${(ms / 1000).toFixed(2)} s, ${Math.round((count / ms) * 1000)}/s`;
}
