// PartiQL costs, in-process.
//
// 1. Parse and plan time per statement for the reference scenario's four
//    statements: uncached (a fresh parse each time) and through the statement
//    cache, each followed by planning its table access.
// 2. Indexed `SELECT * FROM Customer WHERE id = ?` through PartiQL against the
//    engine's direct `lookup` of the same keys, in the same run: each key once
//    (every read goes to SQLite and decrypts), then repeated keys (served by
//    the committed-read cache). 100 reads per transaction, one caller;
//    each transaction is aborted at the end, as explained at the readers.
import { dom } from 'ion-js';
import { Engine, executeStatement, type Ledger } from '../src/engine/index.js';
import { Scope } from '../src/engine/partiql/evaluate.js';
import { parse } from '../src/engine/partiql/parser.js';
import { planAccess } from '../src/engine/partiql/plan.js';
import { StatementCache } from '../src/engine/partiql/index.js';
import type { Statement } from '../src/engine/partiql/ast.js';
import { benchDir, printTable, record } from './util.js';

const DOCUMENTS = 10_000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const READS_PER_TRANSACTION = 100;
const STATEMENTS = [
  'CREATE TABLE Test',
  'CREATE INDEX ON Test (id)',
  'INSERT INTO Test ?',
  'SELECT * FROM Test WHERE id = ?',
];

/** Plan the statement's table source, as the runner does before reading. */
function plan(statement: Statement): void {
  if (statement.kind !== 'select' || statement.from === undefined) return;
  const conditions = statement.where === undefined ? [] : [statement.where];
  planAccess({
    table: 'Test',
    alias: 'Test',
    byAlias: undefined,
    committed: false,
    single: true,
    indexedFields: ['id'],
    conditions,
    scope: Scope.EMPTY,
  });
}

function microseconds(run: () => void, iterations: number): number {
  for (let i = 0; i < 1000; i++) run();
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) run();
  return Number(process.hrtime.bigint() - started) / 1000 / iterations;
}

type Reader = (ledger: Ledger, key: dom.Value) => Promise<number>;

const SELECT = 'SELECT * FROM Customer WHERE id = ?';

// Both readers end their transactions with an abort rather than a commit:
// a commit of a transaction that ran statements writes a block, whose fsync
// would dominate both figures. What remains is the read itself against the
// PartiQL layer around it: parse cache, statement digest, plan, results.
const direct: Reader = async (_ledger, key) =>
  (await currentTx!.lookup('Customer', 'id', key)).length;
const partiql: Reader = async (_ledger, key) =>
  (await executeStatement(currentTx!, SELECT, [key])).count;

let currentTx: ReturnType<Ledger['begin']> | undefined;

async function readLoop(
  ledger: Ledger,
  read: Reader,
  keys: dom.Value[],
  limit: number,
  ms: number,
): Promise<number> {
  let reads = 0;
  let found = 0;
  const started = performance.now();
  while (reads < limit && performance.now() - started < ms) {
    currentTx = ledger.begin();
    for (let i = 0; i < READS_PER_TRANSACTION && reads < limit; i++) {
      found += await read(ledger, keys[(reads * 7919) % keys.length]!);
      reads += 1;
    }
    currentTx.abort();
  }
  if (found !== reads) throw new Error(`expected ${reads} documents, found ${found}`);
  return reads / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const parseRows = STATEMENTS.map((text) => {
    const cache = new StatementCache();
    return {
      statement: text,
      'uncached µs': Number(microseconds(() => plan(parse(text).statement), 20_000).toFixed(2)),
      'cached µs': Number(microseconds(() => plan(cache.get(text).statement), 200_000).toFixed(3)),
    };
  });
  printTable('Parse and plan per statement', parseRows);

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
  // The two passes read the same keys; to give each a cold pass, each takes
  // its own half of the keys, alternating which goes first.
  const even = keys.filter((_, i) => i % 2 === 0);
  const odd = keys.filter((_, i) => i % 2 === 1);
  const coldDirect = await readLoop(ledger, direct, even, even.length, Infinity);
  const coldPartiql = await readLoop(ledger, partiql, odd, odd.length, Infinity);
  const warmDirect = await readLoop(ledger, direct, keys, Infinity, SECONDS * 1000);
  const warmPartiql = await readLoop(ledger, partiql, keys, Infinity, SECONDS * 1000);
  await engine.close();
  dir.remove();

  const readRows = [
    {
      pass: 'cold (each key once)',
      'engine lookup reads/s': Math.round(coldDirect),
      'PartiQL select reads/s': Math.round(coldPartiql),
      'PartiQL / engine': `${Math.round((coldPartiql / coldDirect) * 100)}%`,
    },
    {
      pass: 'warm (cached)',
      'engine lookup reads/s': Math.round(warmDirect),
      'PartiQL select reads/s': Math.round(warmPartiql),
      'PartiQL / engine': `${Math.round((warmPartiql / warmDirect) * 100)}%`,
    },
  ];
  printTable('Indexed point reads: PartiQL against the engine', readRows);
  record('partiql', { parse: parseRows, reads: readRows });
}

await main();
