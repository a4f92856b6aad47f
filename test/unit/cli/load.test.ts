import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSummary, render, ResponseTimes, runLoad } from '../../../src/cli/load.js';
import { tempDir } from '../../helpers/backends.js';
import { VELLUM_MAIN } from '../../helpers/serve-process.js';

const scripts = fileURLToPath(new URL('../../../scripts/', import.meta.url));

/** Listen on a free loopback port and return it. */
async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Run the vellum CLI without blocking, so a stand-in in this process can still respond. */
async function runCli(
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', VELLUM_MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill(), 60_000);
  const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  return { status, stdout, stderr };
}

interface StandIn {
  target: string;
  received: Array<{ method: string; url: string; body: string }>;
  close: () => void;
}

/** Start a service that records every request and responds with 200. */
async function startStandIn(): Promise<StandIn> {
  const received: StandIn['received'] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ method: request.method!, url: request.url!, body });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });
  });
  const port = await listenOnLoopback(server);
  return { target: `http://127.0.0.1:${port}`, received, close: () => server.close() };
}

test('load request to an absolute URL', async () => {
  const standIn = await startStandIn();
  const dir = tempDir('vellum-load-');
  try {
    const file = join(dir.path, 'absolute.yml');
    writeFileSync(
      file,
      `config:\n  phases:\n    - duration: 1\n      arrivalCount: 2\nscenarios:\n` +
        `  - flow:\n      - get:\n          url: '${standIn.target}/health'\n` +
        `      - get:\n          url: '/record'\n`,
    );
    // No service listens at the target, so only the absolute URL reaches the stand-in.
    const summary = await runLoad({ file, target: 'http://127.0.0.1:9/dev', quiet: true });
    assert.deepEqual(
      standIn.received.map((request) => request.url),
      ['/health', '/health'],
    );
    assert.deepEqual(summary.codes, { '200': 2 });
    assert.deepEqual(summary.errors, { ECONNREFUSED: 2 });
  } finally {
    standIn.close();
    dir.remove();
  }
});

test('load list variable picks one value', async () => {
  const standIn = await startStandIn();
  const dir = tempDir('vellum-load-');
  try {
    const file = join(dir.path, 'list.yml');
    writeFileSync(
      file,
      `config:\n  phases:\n    - duration: 1\n      arrivalCount: 10\n  variables:\n    id: [1, 2]\n    name: Ada\n` +
        `scenarios:\n  - flow:\n      - put:\n          url: '/record/{{ id }}'\n` +
        `          headers:\n            x-name: '{{ name }}'\n          json:\n            id: '{{ id }}'\n`,
    );
    const summary = await runLoad({ file, target: standIn.target, quiet: true });
    assert.deepEqual(summary.codes, { '200': 10 });
    for (const request of standIn.received) {
      assert.equal(request.method, 'PUT');
      assert.match(request.url, /^\/record\/[12]$/);
      const body = JSON.parse(request.body) as { id: unknown };
      assert.ok(body.id === 1 || body.id === 2, `id ${JSON.stringify(body.id)}`);
    }
  } finally {
    standIn.close();
    dir.remove();
  }
});

test('load rejects script before sending', async () => {
  const standIn = await startStandIn();
  const dir = tempDir('vellum-load-');
  try {
    const file = join(dir.path, 'ramp.yml');
    writeFileSync(
      file,
      `config:\n  phases:\n    - duration: 1\n      arrivalRate: 2\n      rampTo: 5\n` +
        `scenarios:\n  - flow:\n      - post:\n          url: '/record'\n          body: 'id=1'\n`,
    );
    const cli = await runCli(['load', file, '--target', standIn.target, '--quiet']);
    assert.equal(cli.status, 1, cli.stderr);
    assert.match(cli.stderr, /config\.phases\[0\]\.rampTo is not supported by vellum load/);
    assert.match(cli.stderr, /scenarios\[0\]\.flow\[0\]\.post\.body is not supported/);
    assert.match(cli.stderr, /can still run with Artillery/);
    assert.equal(cli.stdout, '');
    assert.deepEqual(standIn.received, []);
  } finally {
    standIn.close();
    dir.remove();
  }
});

test('processor failures counted as errors', async () => {
  const standIn = await startStandIn();
  const dir = tempDir('vellum-load-');
  try {
    writeFileSync(
      join(dir.path, 'processor.cjs'),
      [
        'let calls = 0;',
        'module.exports = {',
        "  throwing() { throw new Error('no ids left'); },",
        "  callingDone(context, events, done) { done(new Error('record store closed')); },",
        "  rejecting: async () => { throw new Error('lookup failed'); },",
        '  everyOther(context, events, done) {',
        '    calls += 1;',
        '    if (calls % 2 === 1) context.vars.id = calls;',
        '    done();',
        '  },',
        '};',
        '',
      ].join('\n'),
    );
    const cases: Array<{ fn: string; error: string; count: number; requests: number }> = [
      { fn: 'throwing', error: 'throwing: no ids left', count: 4, requests: 0 },
      { fn: 'callingDone', error: 'callingDone: record store closed', count: 4, requests: 0 },
      { fn: 'rejecting', error: 'rejecting: lookup failed', count: 4, requests: 0 },
      { fn: 'everyOther', error: 'undefined variable id', count: 2, requests: 2 },
    ];
    for (const { fn, error, count, requests } of cases) {
      const file = join(dir.path, `${fn}.yml`);
      writeFileSync(
        file,
        `config:\n  processor: './processor.cjs'\n  phases:\n    - duration: 1\n      arrivalCount: 4\n` +
          `scenarios:\n  - flow:\n      - function: ${fn}\n      - get:\n          url: '/record/{{ id }}'\n`,
      );
      const summary = await runLoad({ file, target: standIn.target, quiet: true });
      assert.deepEqual(summary.scriptErrors, { [error]: count }, fn);
      assert.equal(summary.vusersFailed, count, fn);
      assert.equal(summary.requests, requests, fn);
      assert.match(formatSummary(summary), new RegExp(`errors\\.${error}: \\.* ${count}`), fn);
    }
    assert.deepEqual(
      standIn.received.map((request) => request.url),
      ['/record/1', '/record/3'],
    );

    const cli = await runCli([
      'load',
      join(dir.path, 'callingDone.yml'),
      '--target',
      standIn.target,
      '--quiet',
    ]);
    assert.equal(cli.status, 1, cli.stderr);
    assert.match(cli.stdout, /errors\.callingDone: record store closed: \.* 4/);
    assert.match(
      cli.stderr,
      /virtual users stopped on errors in the script or its processor \(callingDone: record store closed x4\)/,
    );
  } finally {
    standIn.close();
    dir.remove();
  }
});

test('templates keep the type of a lone variable', () => {
  const vars = { id: 7, name: 'Ada' };
  assert.deepEqual(
    render({ id: '{{ id }}', label: 'n{{ id }}-{{name}}', list: ['{{name}}'] }, vars),
    {
      id: 7,
      label: 'n7-Ada',
      list: ['Ada'],
    },
  );
});

test('response time percentiles stay within min and max', () => {
  const times = new ResponseTimes();
  times.record(390.2);
  const single = times.summarize();
  times.destroy();
  assert.equal(single.max, 390.2);
  assert.equal(single.min, 390.2);
  assert.equal(single.mean, 390.2);
  assert.equal(single.median, 390.2);
  assert.equal(single.p99, 390.2);

  const spread = new ResponseTimes();
  for (let ms = 100.1; ms < 110; ms += 0.2) spread.record(ms);
  const summary = spread.summarize();
  spread.destroy();
  for (const name of ['mean', 'median', 'p95', 'p99'] as const) {
    assert.ok(summary[name] <= summary.max, `${name} ${summary[name]} > max ${summary.max}`);
    assert.ok(summary[name] >= summary.min, `${name} ${summary[name]} < min ${summary.min}`);
  }
});

test('the reference scripts run against a record service stand-in', async () => {
  const received: Array<{ method: string; url: string; body: string; at: number }> = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ method: request.method!, url: request.url!, body, at: performance.now() });
      let status = 200;
      if (request.method === 'POST') status = 201;
      else if (request.url === '/dev/record/3') status = 400;
      response.writeHead(status, {
        'content-type': 'application/json',
      });
      response.end('"Success"');
    });
  });
  const target = `http://127.0.0.1:${await listenOnLoopback(server)}/dev`;
  const dir = tempDir('vellum-load-');
  try {
    // The reference scripts with a shorter phase: 20 arrivals in 2 s.
    for (const [script, processor] of [
      ['create-record.yml', 'createRecord.cjs'],
      ['get-record.yml', 'getRecord.cjs'],
    ]) {
      const text = readFileSync(join(scripts, script!), 'utf8')
        .replace(/duration: \d+\n(\s+)arrivalRate: \d+/, 'duration: 2\n$1arrivalRate: 10')
        .replace(`'./${processor}'`, `'${join(scripts, processor!)}'`);
      writeFileSync(join(dir.path, script!), text);
    }

    const output = join(dir.path, 'result.json');
    const created = await runLoad({
      file: join(dir.path, 'create-record.yml'),
      target,
      quiet: true,
      output,
    });
    assert.equal(created.requests, 20);
    assert.deepEqual(created.codes, { '201': 20 });
    assert.equal(created.vusersCompleted, 20);
    const posts = received.filter((r) => r.method === 'POST');
    const bodies = posts.map((post) => JSON.parse(post.body) as Record<string, unknown>);
    assert.deepEqual(
      bodies.map((body) => body.id).sort((a, b) => Number(a) - Number(b)),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    for (const body of bodies) {
      assert.equal(typeof body.id, 'number');
      assert.equal(body.email, `${body.firstName}.${body.lastName}@email.com`);
      assert.equal(typeof body.street, 'string');
      assert.equal(typeof body.postcode, 'string');
    }
    // Open model: the arrivals spread over the phase.
    const span = posts.at(-1)!.at - posts[0]!.at;
    assert.ok(span > 1500, `arrivals spanned only ${span} ms`);
    assert.ok(span < 3000, `arrivals spanned ${span} ms`);
    assert.deepEqual(JSON.parse(readFileSync(output, 'utf8')).codes, { '201': 20 });
    assert.ok(created.responseTime.p99 >= created.responseTime.median);

    const read = await runLoad({ file: join(dir.path, 'get-record.yml'), target, quiet: true });
    assert.deepEqual(read.codes, { '200': 19, '400': 1 });
    const gets = received.filter((r) => r.method === 'GET').map((r) => r.url);
    assert.deepEqual(gets.slice(0, 3), ['/dev/record/1', '/dev/record/2', '/dev/record/3']);
    assert.match(formatSummary(read), /http\.codes\.200: \.+ 19/);
    assert.match(formatSummary(read), /p99: \.+ \d/);

    await assert.rejects(
      runLoad({ file: join(dir.path, 'get-record.yml'), target: 'nope', quiet: true }),
      /http:\/\//,
    );

    // A stopped run: the original 300 s script, stopped after 1 s, reports what it sent.
    const original = join(dir.path, 'create-original.yml');
    writeFileSync(
      original,
      readFileSync(join(scripts, 'create-record.yml'), 'utf8').replace(
        "'./createRecord.cjs'",
        `'${join(scripts, 'createRecord.cjs')}'`,
      ),
    );
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 1000);
    const stopped = await runLoad({ file: original, target, quiet: true, signal: stop.signal });
    assert.equal(stopped.stopped, true);
    assert.ok(stopped.durationSeconds < 3, `ran ${stopped.durationSeconds} s`);
    assert.ok(stopped.requests >= 3, `${stopped.requests} requests`);
    assert.ok(stopped.requests <= 7, `${stopped.requests} requests`);
    assert.equal(stopped.responses, stopped.requests);
    assert.match(formatSummary(stopped), /stopped before the phases ended/);

    // From the command line: Ctrl-C prints the summary and exits 130, and a
    // run where no request got a response exits 1 and explains why.
    const cli = spawn(
      process.execPath,
      ['--import', 'tsx', VELLUM_MAIN, 'load', original, '--target', target, '--quiet'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let printed = '';
    cli.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 4000));
    cli.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.match(printed, /Summary report, .* stopped before the phases ended/);
    assert.match(printed, /http\.codes\.201: \.+ \d+/);
    const nobody = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        VELLUM_MAIN,
        'load',
        join(dir.path, 'get-record.yml'),
        '--target',
        'http://127.0.0.1:9/dev',
        '--quiet',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(nobody.status, 1, nobody.stderr);
    assert.match(
      nobody.stderr,
      /none of the 20 requests got a response \(ECONNREFUSED x20\); check that the service runs/,
    );
  } finally {
    server.close();
    dir.remove();
  }
});
