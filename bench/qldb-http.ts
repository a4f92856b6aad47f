// QLDB sessions over HTTP through the official driver: executeLambda with
// one insert, and with one indexed select, per second with 32 concurrent
// callers, with p50 and p99 latency, and the CPU time per transaction of the
// server and of the client process. The server is a `vellum serve` child
// process on 127.0.0.1, so client and server share this machine's cores, as
// they would in a laptop setup. Each workload is warmed up for
// BENCH_WARMUP_SECONDS (default 3) and measured for BENCH_SECONDS (default 5).
//
// Baseline, measured in the same run with the same driver: a bare fastify
// server in a child process that answers every QLDBSession call with a
// canned response of the same shape (it echoes the commit digest the driver
// sent), with no SigV4 verification, no PartiQL and no storage. It shows how
// many transactions per second this driver and machine can carry at all.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateLedgerCommand, QLDBClient } from '@aws-sdk/client-qldb';
import { QldbDriver, RetryConfig } from 'amazon-qldb-driver-nodejs';
import Fastify from 'fastify';
import { dumpBinary } from 'ion-js';
import { benchDir, cpuSeconds, printTable, record, startChild, stopChild } from './util.js';

const CALLERS = 32;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const SELF = fileURLToPath(import.meta.url);
const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

interface Rate {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuUs: number;
  clientCpuUs: number;
}

function record6(i: number): Record<string, string | number> {
  return {
    id: i,
    firstName: 'Ada',
    lastName: `Lovelace${i}`,
    email: `ada${i}@email.com`,
    street: 'Main Street',
    postcode: '12345',
  };
}

/** Run `run` from CALLERS concurrent callers for `seconds`; CPU times are per transaction. */
async function measure(
  seconds: number,
  serverPid: number,
  run: (i: number) => Promise<unknown>,
): Promise<Rate> {
  const latencies: number[] = [];
  let next = 0;
  const serverBefore = cpuSeconds(serverPid);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (performance.now() < deadline) {
        const begin = performance.now();
        await run(next++);
        latencies.push(performance.now() - begin);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const client = process.cpuUsage(clientBefore);
  const server = cpuSeconds(serverPid) - serverBefore;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.floor(q * (latencies.length - 1))] ?? 0;
  return {
    perSecond: latencies.length / elapsed,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    serverCpuUs: (server * 1e6) / latencies.length,
    clientCpuUs: (client.user + client.system) / latencies.length,
  };
}

/** Warm up and measure the insert, then the indexed select, through one driver. */
async function runWorkloads(
  driver: QldbDriver,
  pid: number,
): Promise<{ insert: Rate; select: Rate }> {
  let id = 0;
  const insert = () =>
    driver.executeLambda((txn) => txn.execute('INSERT INTO Test ?', record6(id++)));
  await measure(WARMUP_SECONDS, pid, insert);
  const insertRate = await measure(SECONDS, pid, insert);
  const inserted = id;
  const select = (i: number) =>
    driver.executeLambda((txn) =>
      txn.execute('SELECT * FROM Test WHERE id = ?', (i * 7919) % inserted),
    );
  await measure(WARMUP_SECONDS, pid, select);
  return { insert: insertRate, select: await measure(SECONDS, pid, select) };
}

async function measureVellum(): Promise<{ insert: Rate; select: Rate }> {
  const dir = benchDir();
  const { child, url } = await startChild([
    MAIN,
    'serve',
    '--port',
    '0',
    '--data-dir',
    dir.path,
    '--log-level',
    'warn',
  ]);
  try {
    const profile = readFileSync(join(dir.path, 'credentials'), 'utf8');
    const credentials = {
      accessKeyId: /aws_access_key_id\s*=\s*(\S+)/.exec(profile)![1]!,
      secretAccessKey: /aws_secret_access_key\s*=\s*(\S+)/.exec(profile)![1]!,
    };
    const config = { endpoint: url, region: 'us-east-1', credentials };
    await new QLDBClient(config).send(
      new CreateLedgerCommand({
        Name: 'bench',
        PermissionsMode: 'ALLOW_ALL',
        DeletionProtection: false,
      }),
    );
    const driver = new QldbDriver('bench', config, {}, CALLERS, new RetryConfig(10));
    await driver.executeLambda(async (txn) => {
      await txn.execute('CREATE TABLE Test');
      await txn.execute('CREATE INDEX ON Test (id)');
    });
    try {
      return await runWorkloads(driver, child.pid!);
    } finally {
      driver.close();
    }
  } finally {
    await stopChild(child);
    dir.remove();
  }
}

async function measureBare(): Promise<{ insert: Rate; select: Rate }> {
  const { child, url } = await startChild([SELF, '--bare-server']);
  try {
    const credentials = { accessKeyId: 'AKIABENCH', secretAccessKey: 'unused' };
    const config = { endpoint: url, region: 'us-east-1', credentials };
    const driver = new QldbDriver('bench', config, {}, CALLERS, new RetryConfig(10));
    try {
      return await runWorkloads(driver, child.pid!);
    } finally {
      driver.close();
    }
  } finally {
    await stopChild(child);
  }
}

/**
 * Serve the baseline: canned QLDBSession answers of the shapes Vellum sends.
 * An insert returns a document id, a select one stored record, and a commit
 * echoes the digest the driver sent, which the driver then checks.
 */
async function serveBare(): Promise<void> {
  const timing = { ProcessingTimeMilliseconds: 0 };
  const ios = { ReadIOs: 1, WriteIOs: 0 };
  const page = (value: unknown) => ({
    Values: [{ IonBinary: Buffer.from(dumpBinary(value)).toString('base64') }],
  });
  const insertPage = page({ documentId: 'BwJqeHCXzKk7yPTaV2mhWJ' });
  const selectPage = page(record6(1));
  const app = Fastify();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.post('/', async (request, reply) => {
    const input = JSON.parse(String(request.body)) as Record<string, Record<string, unknown>>;
    let output: unknown = {};
    if (input.StartSession !== undefined) {
      output = {
        StartSession: {
          SessionToken: randomBytes(24).toString('base64'),
          TimingInformation: timing,
        },
      };
    } else if (input.StartTransaction !== undefined) {
      output = {
        StartTransaction: {
          TransactionId: randomBytes(16).toString('hex'),
          TimingInformation: timing,
        },
      };
    } else if (input.ExecuteStatement !== undefined) {
      const statement = String(input.ExecuteStatement.Statement);
      output = {
        ExecuteStatement: {
          FirstPage: statement.startsWith('INSERT') ? insertPage : selectPage,
          TimingInformation: timing,
          ConsumedIOs: ios,
        },
      };
    } else if (input.CommitTransaction !== undefined) {
      output = {
        CommitTransaction: {
          TransactionId: input.CommitTransaction.TransactionId,
          CommitDigest: input.CommitTransaction.CommitDigest,
          TimingInformation: timing,
          ConsumedIOs: ios,
        },
      };
    } else if (input.AbortTransaction !== undefined) {
      output = { AbortTransaction: { TimingInformation: timing } };
    } else if (input.EndSession !== undefined) {
      output = { EndSession: { TimingInformation: timing } };
    }
    reply.header('content-type', 'application/x-amz-json-1.0').send(JSON.stringify(output));
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${url}\n`);
  process.once('SIGTERM', () => void app.close());
}

async function main(): Promise<void> {
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  const vellum = await measureVellum();
  const bare = await measureBare();
  const row = (workload: string, served: Rate, baseline: Rate) => ({
    workload,
    'vellum tx/s': Math.round(served.perSecond),
    'p50 ms': Number(served.p50Ms.toFixed(1)),
    'p99 ms': Number(served.p99Ms.toFixed(1)),
    'server CPU µs/tx': Math.round(served.serverCpuUs),
    'client CPU µs/tx': Math.round(served.clientCpuUs),
    'bare tx/s': Math.round(baseline.perSecond),
    'bare client CPU µs/tx': Math.round(baseline.clientCpuUs),
    'vellum / bare': `${Math.round((served.perSecond / baseline.perSecond) * 100)}%`,
  });
  const rows = [
    row('insert', vellum.insert, bare.insert),
    row('indexed select', vellum.select, bare.select),
  ];
  printTable(`QLDB driver over HTTP, ${CALLERS} callers, ${SECONDS} s each`, rows);
  record('qldb-http', rows);
}

if (process.argv.includes('--bare-server')) await serveBare();
else await main();
