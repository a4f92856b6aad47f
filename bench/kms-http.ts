// KMS throughput over HTTP: Decrypt and GenerateDataKey per second through
// @aws-sdk/client-kms against `vellum serve` (a child process with its own
// data directory), with 32 concurrent callers for BENCH_SECONDS (default 3)
// each, after a warm-up of BENCH_WARMUP_SECONDS (default 5) per operation.
// The caller is the root user, and each request carries a 16-byte
// encryption context. Baseline, measured in the same run with the same
// client: a bare fastify server in a child process that returns canned JSON
// of the same shape for the same operations, with no SigV4 verification and
// no KMS work. For the Vellum runs the server's own CPU time per request is
// read from its /metrics before and after each run, which shows the
// server's capacity when the client process is the limit.
import { Agent } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateKeyCommand,
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
} from '@aws-sdk/client-kms';
import Fastify from 'fastify';
import { benchDir, printTable, record, startChild, stopChild } from './util.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 5);
const CONCURRENCY = 32;
const CONTEXT = { purpose: 'bench-context-16' };
const SELF = fileURLToPath(import.meta.url);
const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

interface Rate {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Server CPU microseconds per request, when the server reports its CPU time. */
  serverCpuUs?: number;
}

async function measure(seconds: number, call: () => Promise<unknown>): Promise<Rate> {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const begin = performance.now();
      await call();
      latencies.push(performance.now() - begin);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.floor(q * (latencies.length - 1))] ?? 0;
  return { perSecond: latencies.length / elapsed, p50Ms: at(0.5), p99Ms: at(0.99) };
}

function kmsClient(url: string, credentials: { accessKeyId: string; secretAccessKey: string }) {
  return new KMSClient({
    endpoint: url,
    region: 'us-east-1',
    credentials,
    maxAttempts: 1,
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: CONCURRENCY }) },
  });
}

/** Read the server's CPU seconds so far from its Prometheus metrics; undefined without them. */
async function serverCpuSeconds(url: string): Promise<number | undefined> {
  const response = await fetch(`${url}/metrics`);
  const text = await response.text();
  const match = /^vellum_process_cpu_seconds_total (\S+)$/m.exec(text);
  return match === null ? undefined : Number(match[1]);
}

/** Measure `call`, adding the server's CPU time per request when it reports one. */
async function measureWithServerCpu(
  url: string,
  seconds: number,
  call: () => Promise<unknown>,
): Promise<Rate> {
  const before = await serverCpuSeconds(url);
  const rate = await measure(seconds, call);
  const after = await serverCpuSeconds(url);
  if (before === undefined || after === undefined) return rate;
  const requests = rate.perSecond * seconds;
  return { ...rate, serverCpuUs: ((after - before) * 1e6) / requests };
}

/** Measure both operations against one endpoint after warming up both. */
async function runOperations(
  url: string,
  client: KMSClient,
  keyId: string,
  blob: Uint8Array,
): Promise<{ decrypt: Rate; generate: Rate }> {
  const decrypt = () =>
    client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: CONTEXT }));
  const generate = () =>
    client.send(
      new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: CONTEXT }),
    );
  // Warm both paths before either is measured: against a fresh server process
  // the first 3 s of calls cost the server 2 to 3 times the CPU of later ones.
  await measure(WARMUP_SECONDS, decrypt);
  await measure(WARMUP_SECONDS, generate);
  const decryptRate = await measureWithServerCpu(url, SECONDS, decrypt);
  const generateRate = await measureWithServerCpu(url, SECONDS, generate);
  return { decrypt: decryptRate, generate: generateRate };
}

async function measureVellum(): Promise<{ decrypt: Rate; generate: Rate }> {
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
    const text = readFileSync(join(dir.path, 'credentials'), 'utf8');
    const credentials = {
      accessKeyId: /aws_access_key_id = (\S+)/.exec(text)![1]!,
      secretAccessKey: /aws_secret_access_key = (\S+)/.exec(text)![1]!,
    };
    const client = kmsClient(url, credentials);
    const key = await client.send(new CreateKeyCommand({ Description: 'bench' }));
    const keyId = key.KeyMetadata!.KeyId!;
    const encrypted = await client.send(
      new EncryptCommand({
        KeyId: keyId,
        Plaintext: new Uint8Array(32).fill(7),
        EncryptionContext: CONTEXT,
      }),
    );
    return await runOperations(url, client, keyId, encrypted.CiphertextBlob!);
  } finally {
    await stopChild(child);
    dir.remove();
  }
}

async function measureBareFastify(): Promise<{ decrypt: Rate; generate: Rate }> {
  const { child, url } = await startChild([SELF, '--bare-server']);
  try {
    const client = kmsClient(url, { accessKeyId: 'AKIABENCH', secretAccessKey: 'unused' });
    return await runOperations(url, client, 'bench', new Uint8Array(180).fill(1));
  } finally {
    await stopChild(child);
  }
}

/** Serve the baseline: the same JSON shapes from a plain fastify route. */
async function serveBare(): Promise<void> {
  const arn = 'arn:aws:kms:us-east-1:000000000000:key/00000000-0000-4000-8000-000000000000';
  const dataKey = Buffer.alloc(32, 7).toString('base64');
  const blob = Buffer.alloc(180, 1).toString('base64');
  const replies: Record<string, string> = {
    'TrentService.Decrypt': JSON.stringify({
      KeyId: arn,
      Plaintext: dataKey,
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    }),
    'TrentService.GenerateDataKey': JSON.stringify({
      KeyId: arn,
      Plaintext: dataKey,
      CiphertextBlob: blob,
    }),
  };
  const app = Fastify();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.post('/', async (request, reply) => {
    reply
      .header('content-type', 'application/x-amz-json-1.1')
      .send(replies[String(request.headers['x-amz-target'])] ?? '{}');
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${url}\n`);
  process.once('SIGTERM', () => void app.close());
}

async function main(): Promise<void> {
  const vellum = await measureVellum();
  const bare = await measureBareFastify();
  const row = (operation: string, served: Rate, baseline: Rate) => ({
    operation,
    'vellum serve req/s': Math.round(served.perSecond),
    'p50 ms': Number(served.p50Ms.toFixed(2)),
    'p99 ms': Number(served.p99Ms.toFixed(2)),
    'server CPU µs/req': Math.round(served.serverCpuUs ?? 0),
    'bare fastify req/s': Math.round(baseline.perSecond),
    'vellum / bare': `${Math.round((served.perSecond / baseline.perSecond) * 100)}%`,
  });
  const rows = [
    row('Decrypt', vellum.decrypt, bare.decrypt),
    row('GenerateDataKey', vellum.generate, bare.generate),
  ];
  printTable(`KMS over HTTP, ${CONCURRENCY} concurrent callers, ${SECONDS} s each`, rows);
  record('kms-http', rows);
}

if (process.argv.includes('--bare-server')) await serveBare();
else await main();
