// The record service's speed: the highest rate of creates (POST /<stage>/record)
// and of gets (GET /<stage>/record/<id>) that it sustains with a p99 under
// 25 ms. Three processes share this machine, all on 127.0.0.1: `vellum serve`,
// the record service on the official QLDB driver, and this process as the load
// generator. Arrivals follow an open model: each step sends requests at a fixed
// rate for a few seconds, and at least 300 requests, whatever the responses
// take. The rate steps up until a step misses the latency bound, fails a
// request or falls behind.
//
// Latency is measured from each request's scheduled time, so a generator that
// falls behind adds to it rather than hiding a slow service. The CPU time of
// each process per request comes from /proc, and the load average from
// os.loadavg(). A bare node:http server is measured at the goal rates first,
// as the baseline of what the machine allows, and after the search each route
// runs with 32 requests in flight to find the rate where the service is the
// limit.
//
//   npx tsx bench/record-service.ts
//
// BENCH_STEP_SECONDS (default 3) changes the length of each step, and
// BENCH_PROFILE_DIR=<dir> writes CPU profiles of vellum serve and the record
// service there (node --cpu-prof) for a look at where their time goes.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import { QldbDriver } from 'amazon-qldb-driver-nodejs';
import { Agent, request } from 'undici';
import { benchDir, cpuSeconds, printTable, profileFlags, record } from './util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STEP_SECONDS = Number(process.env.BENCH_STEP_SECONDS ?? 3);
const P99_BOUND_MS = 25;
const GOALS = { create: 500, get: 1000 };
const RATES = {
  create: [25, 50, 100, 200, 300, 400, 500, 600, 800],
  get: [25, 50, 100, 200, 400, 600, 800, 1000, 1200, 1500],
};
// A p99 needs enough requests to mean anything: of 30 requests (10/s for
// 3 s) it is the slowest one, so a single pause of any process fails the
// step. Slow steps last until they have sent at least this many.
const MIN_STEP_REQUESTS = 300;
// A whole run stays under three minutes.
const RUN_LIMIT_MS = 170_000;

/** Return the length of a search step at `rate`: STEP_SECONDS, or longer for MIN_STEP_REQUESTS. */
function stepSeconds(rate: number): number {
  return Math.max(STEP_SECONDS, MIN_STEP_REQUESTS / rate);
}
const STAGE = 'bench';
const ACCOUNT = '000000000000';

/**
 * The baseline: a bare node:http server in its own process that answers
 * both routes at once with canned bodies, so its latency at the goal rates
 * shows what this machine and the load generator allow by themselves.
 */
const BARE_SERVER = `
const http = require('node:http');
const server = http.createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    const created = request.method === 'POST';
    const body = created ? '"Success"' : '{"id":1,"firstName":"Ada"}';
    response.writeHead(created ? 201 : 200, { 'content-type': 'application/json', 'content-length': body.length });
    response.end(body);
  });
});
server.listen(0, '127.0.0.1', () => console.log('bare on http://127.0.0.1:' + server.address().port + '/bench/record'));
process.once('SIGTERM', () => server.close());
`;

/** Start a Node.js program with tsx and resolve with the first match of `ready` in its output. */
function startProcess(
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<{ child: ChildProcess; match: string }> {
  const child = spawn(process.execPath, [...profileFlags(), '--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    // vellum serve prints its banner on standard error, the service on standard output.
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        output += `${line}\n`;
        const match = ready.exec(line);
        if (match !== null) resolve({ child, match: match[1]! });
      });
    }
    child.once('exit', (code) =>
      reject(new Error(`${args[0]} exited with code ${code} before it was ready:\n${output}`)),
    );
  });
}

/** What vellum serve's /metrics shows of its QLDB session calls, and its event loop delay. */
interface ServerSample {
  calls: number;
  seconds: number;
  /** p99 event loop delay since the previous scrape, beyond the sampling interval, in milliseconds. */
  loopDelayP99: number;
}

async function scrape(url: string): Promise<ServerSample> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const sample: ServerSample = { calls: 0, seconds: 0, loopDelayP99: 0 };
  for (const line of text.split('\n')) {
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!line.includes('service="qldb-session"')) {
      if (line.startsWith('vellum_nodejs_eventloop_lag_p99_seconds ')) {
        // prom-client samples the delay with a 10 ms timer by default, and
        // each sample includes those 10 ms: an idle process shows about 10.
        sample.loopDelayP99 = Math.max(0, value * 1000 - 10);
      }
      continue;
    }
    if (line.startsWith('vellum_request_duration_seconds_count')) sample.calls += value;
    else if (line.startsWith('vellum_request_duration_seconds_sum')) sample.seconds += value;
  }
  return sample;
}

interface StepResult {
  workload: string;
  'target/s': number;
  'achieved/s': number;
  ok: number;
  failed: number;
  'p50 ms': number;
  'p99 ms': number;
  'max ms': number;
  'serve CPU µs/req': number;
  'service CPU µs/req': number;
  'generator CPU µs/req': number;
  'session calls/req': number;
  'server ms/call': number;
  'serve loop delay p99 ms': number;
  'load avg': number;
  verdict: string;
}

/**
 * Send `rate` requests a second for `seconds`, each at its scheduled time,
 * and wait for every response.
 */
async function step(
  workload: 'create' | 'get',
  rate: number,
  seconds: number,
  send: (i: number) => Promise<number>,
  pids: { serve: number; service: number },
  serverUrl: string,
): Promise<StepResult> {
  const total = Math.round(rate * seconds);
  const latencies: number[] = [];
  const expected = workload === 'create' ? 201 : 200;
  let ok = 0;
  let failed = 0;
  let firstError = '';
  const cpuBefore = { serve: cpuSeconds(pids.serve), service: cpuSeconds(pids.service) };
  const ownBefore = process.cpuUsage();
  const serverBefore = await scrape(serverUrl);
  const started = performance.now();
  const pending: Array<Promise<void>> = [];
  let sent = 0;

  while (sent < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - started) / 1000) * rate) + 1);
    for (; sent < due; sent++) {
      const scheduled = started + (sent * 1000) / rate;
      pending.push(
        send(sent).then(
          (status) => {
            latencies.push(performance.now() - scheduled);
            if (status === expected) ok++;
            else {
              failed++;
              firstError ||= `HTTP ${status}`;
            }
          },
          (error: Error) => {
            latencies.push(performance.now() - scheduled);
            failed++;
            firstError ||= error.message;
          },
        ),
      );
    }
    const next = started + (sent * 1000) / rate;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
  }
  await Promise.all(pending);

  const elapsed = (performance.now() - started) / 1000;
  const own = process.cpuUsage(ownBefore);
  const server = await scrape(serverUrl);
  const calls = server.calls - serverBefore.calls;
  const perRequest = (seconds: number) => Math.round((seconds / total) * 1e6);
  latencies.sort((a, b) => a - b);
  const at = (fraction: number) =>
    Number(
      latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * fraction))]!.toFixed(
        1,
      ),
    );
  const p99 = at(0.99);
  const achieved = Math.round(total / elapsed);
  let verdict = 'pass';
  if (failed > 0) verdict = `failed: ${firstError}`;
  else if (p99 >= P99_BOUND_MS) verdict = `p99 over ${P99_BOUND_MS} ms`;
  else if (achieved < rate * 0.9) verdict = 'fell behind';
  return {
    workload,
    'target/s': rate,
    'achieved/s': achieved,
    ok,
    failed,
    'p50 ms': at(0.5),
    'p99 ms': p99,
    'max ms': Number(latencies.at(-1)!.toFixed(1)),
    'serve CPU µs/req': perRequest(cpuSeconds(pids.serve) - cpuBefore.serve),
    'service CPU µs/req': perRequest(cpuSeconds(pids.service) - cpuBefore.service),
    'generator CPU µs/req': perRequest((own.user + own.system) / 1e6),
    'session calls/req': Number((calls / total).toFixed(2)),
    'server ms/call':
      calls === 0
        ? 0
        : Number((((server.seconds - serverBefore.seconds) / calls) * 1000).toFixed(2)),
    'serve loop delay p99 ms': Number(server.loopDelayP99.toFixed(1)),
    'load avg': Number(loadavg()[0]!.toFixed(2)),
    verdict,
  };
}

/**
 * Keep `callers` requests in flight for `seconds` (a closed loop) and
 * measure the rate the service reaches when it is the limit, with the CPU
 * time of each process per request.
 */
async function saturate(
  workload: 'create' | 'get',
  callers: number,
  seconds: number,
  send: (i: number) => Promise<number>,
  pids: { serve: number; service: number },
): Promise<Record<string, string | number>> {
  const latencies: number[] = [];
  let failed = 0;
  let next = 0;
  const cpuBefore = { serve: cpuSeconds(pids.serve), service: cpuSeconds(pids.service) };
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;

  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < deadline) {
        const begin = performance.now();
        const status = await send(next++).catch(() => 0);
        latencies.push(performance.now() - begin);
        if (status !== (workload === 'create' ? 201 : 200)) failed++;
      }
    }),
  );

  const elapsed = (performance.now() - started) / 1000;
  const own = process.cpuUsage(ownBefore);
  const count = latencies.length;
  latencies.sort((a, b) => a - b);
  const at = (fraction: number) =>
    Number(latencies[Math.min(count - 1, Math.floor(count * fraction))]!.toFixed(1));
  const perRequest = (cpu: number) => Math.round((cpu / count) * 1e6);
  return {
    workload,
    callers,
    'requests/s': Math.round(count / elapsed),
    failed,
    'p50 ms': at(0.5),
    'p99 ms': at(0.99),
    'serve CPU µs/req': perRequest(cpuSeconds(pids.serve) - cpuBefore.serve),
    'service CPU µs/req': perRequest(cpuSeconds(pids.service) - cpuBefore.service),
    'generator CPU µs/req': perRequest((own.user + own.system) / 1e6),
    'load avg': Number(loadavg()[0]!.toFixed(2)),
  };
}

/** CPU milliseconds per second that each process uses with no requests. */
async function idleCpu(pids: { serve: number; service: number }, seconds: number) {
  const before = { serve: cpuSeconds(pids.serve), service: cpuSeconds(pids.service) };
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return {
    'serve idle CPU ms/s': Math.round(((cpuSeconds(pids.serve) - before.serve) / seconds) * 1000),
    'service idle CPU ms/s': Math.round(
      ((cpuSeconds(pids.service) - before.service) / seconds) * 1000,
    ),
  };
}

async function main(): Promise<void> {
  const runStarted = Date.now();
  const loadAtStart = loadavg().map((value) => Number(value.toFixed(2)));
  const dir = benchDir();
  const children: ChildProcess[] = [];
  try {
    const serve = await startProcess(
      ['src/cli/main.ts', 'serve', '--port', '0', '--data-dir', dir.path, '--log-level', 'warn'],
      {},
      /listening on (http:\/\/\S+)/,
    );
    children.push(serve.child);
    const url = serve.match;
    const profile = readFileSync(join(dir.path, 'credentials'), 'utf8');
    const credentials = {
      accessKeyId: /aws_access_key_id\s*=\s*(\S+)/.exec(profile)![1]!,
      secretAccessKey: /aws_secret_access_key\s*=\s*(\S+)/.exec(profile)![1]!,
    };
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    const config = { endpoint: url, region: 'us-east-1', credentials };

    // The reference stack, as vellum deploy makes it, and the table the scenario creates.
    const cloudformation = new CloudFormationClient(config);
    await cloudformation.send(
      new CreateStackCommand({
        StackName: `qldb-kms-${STAGE}`,
        TemplateBody: readFileSync(join(ROOT, 'stacks', 'qldb-kms.yml'), 'utf8'),
        Parameters: [{ ParameterKey: 'Stage', ParameterValue: STAGE }],
        Capabilities: ['CAPABILITY_NAMED_IAM'],
      }),
    );
    for (;;) {
      const reply = await cloudformation.send(
        new DescribeStacksCommand({ StackName: `qldb-kms-${STAGE}` }),
      );
      const status = reply.Stacks![0]!.StackStatus!;
      if (status === 'CREATE_COMPLETE') break;
      if (!status.endsWith('_IN_PROGRESS')) throw new Error(`the stack is ${status}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const driver = new QldbDriver(`qldb-kms-ledger-${STAGE}`, config);
    await driver.executeLambda(async (txn) => {
      await txn.execute('CREATE TABLE Test');
      await txn.execute('CREATE INDEX ON Test (id)');
    });
    driver.close();

    const service = await startProcess(
      ['examples/record-service/src/main.ts'],
      {
        AWS_SHARED_CREDENTIALS_FILE: join(dir.path, 'credentials'),
        AWS_CONFIG_FILE: join(dir.path, 'config'),
        AWS_PROFILE: 'vellum',
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        VELLUM_ENDPOINT: url,
        AWS_REGION: 'us-east-1',
        STAGE,
        CREATE_ROLE_ARN: `arn:aws:iam::${ACCOUNT}:role/qldb-kms-create-record-role`,
        GET_ROLE_ARN: `arn:aws:iam::${ACCOUNT}:role/qldb-kms-get-record-role`,
        PORT: '0',
        ...(process.env.MAX_CONCURRENT_TRANSACTIONS === undefined
          ? {}
          : { MAX_CONCURRENT_TRANSACTIONS: process.env.MAX_CONCURRENT_TRANSACTIONS }),
      },
      /on (http:\/\/\S+)/,
    );
    children.push(service.child);
    const base = service.match;
    const pids = { serve: serve.child.pid!, service: service.child.pid! };

    const agent = new Agent({ connections: 512, keepAliveTimeout: 10_000, pipelining: 1 });
    let created = 0;
    const create = async (): Promise<number> => {
      const id = ++created;
      const response = await request(base, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          id,
          firstName: 'Ada',
          lastName: `Lovelace${id}`,
          email: `ada.lovelace${id}@email.com`,
          street: `${id} Main Street`,
          postcode: String(10000 + (id % 90000)),
        }),
      });
      await response.body.dump();
      return response.statusCode;
    };
    let readable = 0;
    const get = async (i: number): Promise<number> => {
      const id = 1 + ((i * 7919) % readable);
      const response = await request(`${base}/${id}`, { dispatcher: agent });
      await response.body.dump();
      return response.statusCode;
    };

    const bare = await startProcess(['-e', BARE_SERVER], {}, /on (http:\/\/\S+)/);
    children.push(bare.child);
    const bareUrl = bare.match;
    const bareRequest = async (method: 'POST' | 'GET', path: string, body?: string) => {
      const response = await request(`${bareUrl}${path}`, {
        method,
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body,
      });
      await response.body.dump();
      return response.statusCode;
    };
    const barePids = { serve: bare.child.pid!, service: bare.child.pid! };
    const baseline: StepResult[] = [];
    baseline.push(
      await step(
        'create',
        GOALS.create,
        STEP_SECONDS,
        (i) => bareRequest('POST', '', JSON.stringify({ id: i, firstName: 'Ada' })),
        barePids,
        url,
      ),
      await step('get', GOALS.get, STEP_SECONDS, (i) => bareRequest('GET', `/${i}`), barePids, url),
    );
    bare.child.kill('SIGTERM');

    // Warm up both routes: the driver's sessions, the role credentials and the server's caches.
    const warmUp: StepResult[] = [];
    warmUp.push(await step('create', 50, 2, create, pids, url));
    readable = created;
    warmUp.push(await step('get', 100, 2, get, pids, url));

    const idle = await idleCpu(pids, 2);
    const rows: StepResult[] = [];
    const best = { create: 0, get: 0 };
    for (const workload of ['create', 'get'] as const) {
      for (const rate of RATES[workload]) {
        // A step that misses the bound once is run again, so that one pause
        // of a process on this shared machine does not end the search.
        let passed = false;
        for (let attempt = 0; attempt < 2 && !passed; attempt++) {
          if (Date.now() - runStarted + stepSeconds(rate) * 3500 > RUN_LIMIT_MS) break;
          readable = created;
          const row = await step(
            workload,
            rate,
            stepSeconds(rate),
            workload === 'create' ? create : get,
            pids,
            url,
          );
          rows.push(row);
          process.stdout.write(
            `${workload} ${rate}/s: p99 ${row['p99 ms']} ms, ${row.failed} failed, load ${row['load avg']} -> ${row.verdict}\n`,
          );
          passed = row.verdict === 'pass';
          // Let the queues drain before the next step.
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
        if (!passed) break;
        best[workload] = rate;
      }
    }
    // The maximum rate of each workload with 32 requests in flight, whatever the latency.
    const saturated: Array<Record<string, string | number>> = [];
    for (const workload of ['create', 'get'] as const) {
      if (Date.now() - runStarted + STEP_SECONDS * 1000 > RUN_LIMIT_MS) break;
      readable = created;
      saturated.push(
        await saturate(workload, 32, STEP_SECONDS, workload === 'create' ? create : get, pids),
      );
    }
    await agent.close();
    const loadAtEnd = loadavg().map((value) => Number(value.toFixed(2)));
    printTable(
      'Baseline: a bare node:http server at the goal rates (its CPU in the serve column)',
      baseline as unknown as Array<Record<string, string | number>>,
    );
    printTable('Warm-up', warmUp as unknown as Array<Record<string, string | number>>);
    printTable(
      `Record service, open-model steps of ${STEP_SECONDS} s or ${MIN_STEP_REQUESTS} requests, p99 bound ${P99_BOUND_MS} ms`,
      rows as unknown as Array<Record<string, string | number>>,
    );
    printTable('Saturation: 32 requests in flight', saturated);
    const summary = {
      'sustained creates/s': best.create,
      'creates goal': GOALS.create,
      'sustained gets/s': best.get,
      'gets goal': GOALS.get,
      ...idle,
      'load avg at start (1, 5, 15 min)': loadAtStart.join(', '),
      'load avg at end (1, 5, 15 min)': loadAtEnd.join(', '),
      'run seconds': Math.round((Date.now() - runStarted) / 1000),
    };
    printTable('Summary', [summary]);
    record('record-service', { summary, baseline, warmUp, rows, saturated });
  } finally {
    for (const child of children.reverse()) {
      child.kill('SIGTERM');
      await new Promise((resolve) => {
        if (child.exitCode !== null) resolve(undefined);
        else child.once('exit', resolve);
      });
    }
    dir.remove();
  }
}

await main();
