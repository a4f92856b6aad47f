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

/** Listen on the first free port from 19550 to 19599 and return it. */
async function listenInRange(server: Server): Promise<number> {
  for (let port = 19550; port <= 19599; port++) {
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    server.removeAllListeners('error');
    if (listening) return (server.address() as AddressInfo).port;
  }
  throw new Error(
    'found no free port from 19550 to 19599. Stop a process that listens there and run again',
  );
}

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
  const target = `http://127.0.0.1:${await listenInRange(server)}/dev`;
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
