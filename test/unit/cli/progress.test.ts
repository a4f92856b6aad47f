import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatElapsed, withProgress } from '../../../src/cli/progress.js';

function sink(isTTY: boolean, columns?: number) {
  const writes: string[] = [];
  return { writes, output: { isTTY, columns, write: (text: string) => writes.push(text) } };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('progress prints lines to a log', async () => {
  const { writes, output } = sink(false);
  let done = 0;
  const started = performance.now();
  const result = await withProgress(
    'loading',
    () => `${done} requests`,
    async () => {
      for (let i = 0; i < 6; i++) {
        await sleep(50);
        done += 10;
      }
      return 'finished';
    },
    { output, lineInterval: 100 },
  );
  assert.equal(result, 'finished');
  // One line per 100 ms that the work took, which is 300 ms or more on a busy machine.
  const elapsed = performance.now() - started;
  assert.ok(writes.length >= 2, `lines: ${JSON.stringify(writes)}`);
  assert.ok(writes.length <= Math.floor(elapsed / 100), `lines: ${JSON.stringify(writes)}`);
  for (const line of writes) assert.match(line, /^loading: \d+ requests, \d\.\d s\n$/);
  // The counts move on between lines.
  assert.notEqual(writes[0], writes[1]);
});

test('progress skips short work', async () => {
  const { writes, output } = sink(false);
  await withProgress(
    'quick',
    () => 'x',
    () => sleep(20),
    { output, lineInterval: 1000 },
  );
  assert.deepEqual(writes, []);
});

test('progress redraws on a terminal', async () => {
  const { writes, output } = sink(true, 40);
  await withProgress(
    'waiting for the ledger to report ENABLED',
    () => 'it reports UPDATING under the rotate key',
    () => sleep(160),
    { output, redrawInterval: 30 },
  );
  assert.ok(writes.length >= 2, JSON.stringify(writes));
  for (const draw of writes.slice(0, -1)) {
    assert.ok(draw.startsWith('\r\x1b[2K'));
    assert.ok(!draw.includes('\n'));
    // Cut to the terminal's width, so that it never wraps.
    assert.ok(draw.length - '\r\x1b[2K'.length <= 39, draw);
  }
  assert.equal(writes.at(-1), '\r\x1b[2K');
});

test('progress stops on failed work', async () => {
  const { writes, output } = sink(false);
  await assert.rejects(
    withProgress(
      'deploying',
      () => 'CREATE_IN_PROGRESS',
      async () => {
        await sleep(70);
        throw new Error('stack failed');
      },
      { output, lineInterval: 25 },
    ),
    /stack failed/,
  );
  const count = writes.length;
  assert.ok(count >= 1);
  await sleep(80);
  assert.equal(writes.length, count, 'no lines after the work ended');
});

test('progress shows a failing status', async () => {
  const { writes, output } = sink(false);
  await withProgress(
    'phase',
    () => {
      throw new Error('no status yet');
    },
    () => sleep(60),
    { output, lineInterval: 25 },
  );
  assert.match(writes[0]!, /^phase: status unavailable \(no status yet\), \d\.\d s\n$/);
});

test('elapsed time formatting', () => {
  assert.equal(formatElapsed(0), '0.0 s');
  assert.equal(formatElapsed(12_345), '12.3 s');
});
