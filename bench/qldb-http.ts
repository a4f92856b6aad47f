// QLDB sessions over HTTP through the official driver: executeLambda with
// one insert, and with one indexed select, per second with 32 concurrent
// callers, with p50 and p99 latency and the server's CPU time per
// transaction. The server is a `vellum serve` child process on 127.0.0.1,
// so client and server share this machine's cores, as they would in a
// laptop setup.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateLedgerCommand, QLDBClient } from '@aws-sdk/client-qldb';
import { QldbDriver, RetryConfig } from 'amazon-qldb-driver-nodejs';
import { benchDir, printTable, record } from './util.js';

const CALLERS = 32;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

/** CPU seconds (user + system) the process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function measure(
  name: string,
  pid: number,
  run: (i: number) => Promise<unknown>,
): Promise<Record<string, string | number>> {
  const latencies: number[] = [];
  let next = 0;
  const cpuBefore = cpuSeconds(pid);
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
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
  const cpu = cpuSeconds(pid) - cpuBefore;
  latencies.sort((a, b) => a - b);
  return {
    workload: name,
    'transactions/s': Math.round(latencies.length / elapsed),
    'p50 ms': Number(latencies[Math.floor(latencies.length * 0.5)]!.toFixed(1)),
    'p99 ms': Number(latencies[Math.floor(latencies.length * 0.99)]!.toFixed(1)),
    'server CPU µs/tx': Math.round((cpu / latencies.length) * 1e6),
  };
}

async function main(): Promise<void> {
  const dir = benchDir();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      MAIN,
      'serve',
      '--port',
      '0',
      '--data-dir',
      dir.path,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match !== null) resolve(match[1]!);
    });
  });
  const profile = readFileSync(join(dir.path, 'credentials'), 'utf8');
  const credentials = {
    accessKeyId: /aws_access_key_id\s*=\s*(\S+)/.exec(profile)![1]!,
    secretAccessKey: /aws_secret_access_key\s*=\s*(\S+)/.exec(profile)![1]!,
  };
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
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

  const rows = [];
  rows.push(
    await measure('insert', child.pid!, (i) =>
      driver.executeLambda((txn) =>
        txn.execute('INSERT INTO Test ?', {
          id: i,
          firstName: 'Ada',
          lastName: `Lovelace${i}`,
          email: `ada${i}@email.com`,
          street: 'Main Street',
          postcode: '12345',
        }),
      ),
    ),
  );
  const inserted = Number(rows[0]!['transactions/s']) * SECONDS;
  rows.push(
    await measure('indexed select', child.pid!, (i) =>
      driver.executeLambda((txn) =>
        txn.execute('SELECT * FROM Test WHERE id = ?', (i * 7919) % inserted),
      ),
    ),
  );
  driver.close();
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  dir.remove();
  printTable(`QLDB driver over HTTP, ${CALLERS} callers, ${SECONDS} s each`, rows);
  record('qldb-http', rows);
}

await main();
