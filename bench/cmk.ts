// Ledgers under customer managed keys, in-process through the session API:
// 1. reads and writes per second and p99 on a customer-key ledger against a
//    ledger on the Vellum-owned key, in the same run;
// 2. the time to re-wrap a ledger's data key under a new key for a small and
//    a large ledger, which must not depend on the ledger's size;
// 3. p99 read latency while UpdateLedger moves the ledger to another key,
//    against the p99 before it.
import { dumpBinary, dom } from 'ion-js';
import { pino } from 'pino';
import { Engine } from '../src/engine/index.js';
import { IdentityService } from '../src/services/iam/identity.js';
import { KmsService } from '../src/services/kms/kms-service.js';
import { ControlPlaneService } from '../src/services/qldb/control-plane.js';
import { LedgerKeyService } from '../src/services/qldb/ledger-keys.js';
import { SessionService } from '../src/services/qldb/session-service.js';
import { hashString } from '../src/engine/ion/ion-hash.js';
import { ionHash } from '../src/engine/ion/ion-hash.js';
import { dot } from '../src/engine/ion/dot.js';
import type { RequestContext } from '../src/services/types.js';
import { benchDir, printTable, record } from './util.js';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const LARGE = Number(process.env.BENCH_DOCUMENTS ?? 100_000);
const CALLERS = 16;

const dir = benchDir();
const engineHolder: { keys?: LedgerKeyService } = {};
const engine = await Engine.open({
  dataDir: dir.path,
  keyProvider: {
    wrap: (id, key, name) => engineHolder.keys!.keyProvider.wrap(id, key, name),
    unwrap: (id, wrapped, name) => engineHolder.keys!.keyProvider.unwrap(id, wrapped, name),
    generate: (id, name) => engineHolder.keys!.keyProvider.generate!(id, name),
  },
});
const identity = await IdentityService.open({
  store: engine.store,
  accountId: ACCOUNT,
  dataDir: dir.path,
});
const kms = await KmsService.open({
  store: engine.store,
  identity,
  dataDir: dir.path,
  scheduleInterval: 0,
});
const keys = new LedgerKeyService({
  store: engine.store,
  kms,
  identity,
  rootKey: Buffer.alloc(32, 1),
  accountId: ACCOUNT,
  region: REGION,
  checkIntervalMs: 60_000,
  logger: pino({ level: 'silent' }),
});
engineHolder.keys = keys;
await keys.start(engine);
const root: RequestContext = {
  principal: identity.rootPrincipal('AKIA'),
  requestId: 'bench',
  region: REGION,
};
const plane = new ControlPlaneService({ engine, accountId: ACCOUNT, region: REGION, keys });
const sessions = new SessionService({ engine, accountId: ACCOUNT, region: REGION, gate: keys });
const route = (operation: string) => plane.routes().find((r) => r.operation === operation)!;
const newKey = async () => (await kms.createKey({}, root)).KeyMetadata.KeyId;

async function createLedger(
  name: string,
  kmsKey: string | undefined,
  documents: number,
): Promise<void> {
  await route('CreateLedger').handle(
    { params: {}, query: {}, body: { Name: name, PermissionsMode: 'ALLOW_ALL', KmsKey: kmsKey } },
    root,
  );
  const ledger = await engine.ledger(name);
  await ledger.run(async (tx) => {
    tx.createTable('Test');
    await tx.createIndex('Test', 'id');
  });
  const batches: number[] = [];
  for (let start = 0; start < documents; start += 40) batches.push(start);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < batches.length) {
        const start = batches[next++]!;
        await ledger.run(async (tx) => {
          for (let id = start; id < Math.min(start + 40, documents); id++) {
            await tx.insert('Test', dom.Value.from({ id, name: `record ${id}` }));
          }
        });
      }
    }),
  );
}

/** One transaction through SendCommand, as the driver sends it. */
async function transact(token: string, statement: string, parameter: unknown): Promise<void> {
  const send = (body: Record<string, unknown>) =>
    sessions.handle('SendCommand', { SessionToken: token, ...body }, root) as Promise<
      Record<string, Record<string, unknown>>
    >;
  const txId = (await send({ StartTransaction: {} })).StartTransaction!.TransactionId as string;
  const value = dom.Value.from(parameter as never);
  await send({
    ExecuteStatement: {
      TransactionId: txId,
      Statement: statement,
      Parameters: [{ IonBinary: Buffer.from(dumpBinary(value)).toString('base64') }],
    },
  });
  const digest = dot(hashString(txId), dot(hashString(statement), ionHash(value)));
  await send({
    CommitTransaction: {
      TransactionId: txId,
      CommitDigest: Buffer.from(digest).toString('base64'),
    },
  });
}

async function load(
  ledgerName: string,
  statement: string,
  parameter: (i: number) => unknown,
  seconds: number,
  during?: () => Promise<void>,
): Promise<{ rate: number; p99: number }> {
  const tokens = await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      const reply = (await sessions.handle(
        'SendCommand',
        { StartSession: { LedgerName: ledgerName } },
        root,
      )) as Record<string, Record<string, string>>;
      return reply.StartSession!.SessionToken!;
    }),
  );
  const latencies: number[] = [];
  let i = 0;
  let stop = false;
  const started = performance.now();
  const workers = tokens.map(async (token) => {
    while (!stop) {
      const begin = performance.now();
      await transact(token, statement, parameter(i++));
      latencies.push(performance.now() - begin);
    }
  });
  if (during !== undefined) await during();
  else await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  stop = true;
  await Promise.all(workers);
  latencies.sort((a, b) => a - b);
  return {
    rate: latencies.length / ((performance.now() - started) / 1000),
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
  };
}

await createLedger('owned', undefined, 10_000);
await createLedger('customer', await newKey(), 10_000);
const read = (i: number) => (i * 7919) % 10_000;
const rows: Array<Record<string, string | number>> = [];
for (const [workload, statement, parameter] of [
  ['indexed select', 'SELECT * FROM Test WHERE id = ?', read],
  ['insert', 'INSERT INTO Test ?', (i: number) => ({ id: 100_000 + i, name: 'new' })],
] as const) {
  const owned = await load('owned', statement, parameter, SECONDS);
  const customer = await load('customer', statement, parameter, SECONDS);
  rows.push({
    workload,
    'owned-key tx/s': Math.round(owned.rate),
    'customer-key tx/s': Math.round(customer.rate),
    'customer / owned': Number((customer.rate / owned.rate).toFixed(2)),
    'owned p99 ms': Number(owned.p99.toFixed(2)),
    'customer p99 ms': Number(customer.p99.toFixed(2)),
  });
}
printTable('Customer managed key against the Vellum-owned key, through SendCommand', rows);

const rewrapRows: Array<Record<string, string | number>> = [];
await createLedger('small', await newKey(), 10);
await createLedger('large', await newKey(), LARGE);
for (const [name, documents] of [
  ['small', 10],
  ['large', LARGE],
] as const) {
  const target = await newKey();
  const begin = performance.now();
  await route('UpdateLedger').handle(
    { params: { name }, query: {}, body: { KmsKey: target } },
    root,
  );
  while ((await keys.encryptionDescription(name))?.EncryptionStatus !== 'ENABLED') {
    await new Promise((resolve) => setImmediate(resolve));
  }
  rewrapRows.push({
    ledger: name,
    documents,
    'UPDATING to ENABLED ms': Number((performance.now() - begin).toFixed(2)),
  });
}
printTable('Re-wrap under a new key', rewrapRows);

const before = await load('customer', 'SELECT * FROM Test WHERE id = ?', read, SECONDS);
const target = await newKey();
const duringChange = await load(
  'customer',
  'SELECT * FROM Test WHERE id = ?',
  read,
  SECONDS,
  async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    await route('UpdateLedger').handle(
      { params: { name: 'customer' }, query: {}, body: { KmsKey: target } },
      root,
    );
    while ((await keys.encryptionDescription('customer'))?.EncryptionStatus !== 'ENABLED') {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000 - 500));
  },
);
const changeRows = [
  {
    phase: 'before the change',
    'reads/s': Math.round(before.rate),
    'p99 ms': Number(before.p99.toFixed(2)),
  },
  {
    phase: 'during UpdateLedger',
    'reads/s': Math.round(duringChange.rate),
    'p99 ms': Number(duringChange.p99.toFixed(2)),
  },
];
printTable(
  `p99 read latency around a key change (ratio ${(duringChange.p99 / before.p99).toFixed(2)})`,
  changeRows,
);
record('cmk', { throughput: rows, rewrap: rewrapRows, keyChange: changeRows });

sessions.close();
await keys.close();
kms.close();
await engine.close();
dir.remove();
