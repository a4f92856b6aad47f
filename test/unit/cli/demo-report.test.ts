import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FAILED_COLOR,
  SUCCEEDED_COLOR,
  staggerLabels,
  writeDemoReport,
  type RequestSample,
} from '../../../src/cli/demo-report.js';
import { tempDir } from '../../helpers/backends.js';

test('staggerLabels keeps close labels apart', () => {
  assert.deepEqual(staggerLabels([0, 0.1, 5], 1), [0, 1, 0]);
  assert.deepEqual(staggerLabels([0, 0.1, 0.2, 0.3], 1), [0, 1, 2, 3]);
  assert.deepEqual(staggerLabels([0, 1, 2], 1), [0, 0, 0]);
  // Labels out of time order get the rows they would get in order.
  assert.deepEqual(staggerLabels([5, 0.1, 0], 1), [0, 1, 0]);
  assert.deepEqual(staggerLabels([], 1), []);
});

/** Return the attributes of each SVG element of `tag` inside the mark group named `mark`. */
function markElements(svg: string, mark: string, tag: string): string[] {
  const group = new RegExp(`<g class="[^"]*role-mark ${mark}"[^>]*>(.*?)</g>`).exec(svg);
  assert.ok(group, `no mark group ${mark} in the chart`);
  return [...group[1]!.matchAll(new RegExp(`<${tag} ([^>]*)>`, 'g'))].map((m) => m[1]!);
}

function attribute(element: string, name: string): string {
  const value = new RegExp(`${name}="([^"]*)"`).exec(element)?.[1];
  assert.ok(value !== undefined, `no ${name} in <${element}>`);
  return value;
}

/** Write and return a report of 500 requests, 30 of them failed, with events 0.1 s apart. */
async function sampleReport(): Promise<string> {
  const samples: RequestSample[] = Array.from({ length: 500 }, (_, i) => ({
    t: i * 0.1,
    ms: 5 + (i % 7),
    ok: i < 300 || i >= 330,
    phase: 'reads',
  }));
  const dir = tempDir();
  const path = join(dir.path, 'report.html');
  await writeDemoReport(path, {
    samples,
    events: [
      { t: 10, label: 'alias to rotate key' },
      { t: 29.9, label: 'update-ledger to delete key' },
      { t: 30, label: 'disable key' },
      { t: 33, label: 'enable key' },
    ],
    periods: [
      { start: 0, end: 30.3, lastSeen: 30.25, status: 'ENABLED' },
      { start: 30.3, end: 33.4, lastSeen: 33.35, status: 'KMS_KEY_INACCESSIBLE' },
      { start: 33.4, end: 50, lastSeen: 50, status: 'ENABLED' },
    ],
    rows: [
      {
        phase: 'reads',
        requests: 500,
        succeeded: 470,
        failed: 30,
        p50: '8.0',
        p99: '11.0',
        passed: false,
        expectation: 'every request succeeded; instead 30 of 500 failed',
        firstError: '400 BadRequestException',
      },
    ],
    pollInterval: 50,
  });
  const html = readFileSync(path, 'utf8');
  dir.remove();
  return html;
}

test('report draws failures in their own colour on top', async () => {
  const html = await sampleReport();
  const succeeded = markElements(html, 'layer_1_layer_0_marks', 'path');
  const failed = markElements(html, 'layer_1_layer_1_marks', 'path');
  assert.equal(succeeded.length, 470);
  assert.equal(failed.length, 30);
  assert.ok(succeeded.every((point) => attribute(point, 'fill') === SUCCEEDED_COLOR));
  assert.ok(failed.every((point) => attribute(point, 'fill') === FAILED_COLOR));
  assert.notEqual(SUCCEEDED_COLOR, FAILED_COLOR);
  // SVG paints later elements over earlier ones.
  assert.ok(html.indexOf('layer_1_layer_1_marks') > html.indexOf('layer_1_layer_0_marks'));
});

test('report legend counts failures', async () => {
  const html = await sampleReport();
  const entry =
    /fill="([^"]+)"[^>]*\/><\/g><g class="mark-text role-legend-label"[^>]*><text[^>]*>failed \(30\)</.exec(
      html,
    );
  assert.ok(entry, 'no legend entry "failed (30)"');
  assert.equal(entry[1], FAILED_COLOR);
  assert.match(html, /<text[^>]*>succeeded \(470\)</);
});

test('report legend shows whole status names', async () => {
  const html = await sampleReport();
  assert.match(html, /role-legend-label[^>]*><text[^>]*>KMS_KEY_INACCESSIBLE</);
  assert.doesNotMatch(html, /…/);
});

test('report event labels do not share a position', async () => {
  const html = await sampleReport();
  const labels = markElements(html, 'layer_3_marks', 'text');
  assert.equal(labels.length, 4);
  const positions = labels.map((label) =>
    /translate\(([\d.]+),([\d.]+)\)/.exec(attribute(label, 'transform'))!.slice(1).map(Number),
  );
  for (let i = 0; i < positions.length; i++) {
    for (let j = i + 1; j < positions.length; j++) {
      const [x1, y1] = positions[i]!;
      const [x2, y2] = positions[j]!;
      const overlap = Math.abs(x1! - x2!) < 14 && Math.abs(y1! - y2!) < 12;
      assert.ok(
        !overlap,
        `labels ${i + 1} and ${j + 1} overlap at ${positions[i]} and ${positions[j]}`,
      );
    }
  }
  assert.match(
    html,
    /<li>29\.90 s: update-ledger to delete key<\/li>\n<li>30\.00 s: disable key<\/li>/,
  );
});

test('report says how status bands were observed', async () => {
  const html = await sampleReport();
  assert.match(
    html,
    /KMS_KEY_INACCESSIBLE: observed by DescribeLedger at 30\.30 s; the poll before it, back at 30\.25 s, returned ENABLED/,
  );
  assert.match(html, /polled DescribeLedger every 50 ms/);
  assert.match(html, /reads can fail before the band starts/);
  assert.match(
    html,
    /<td class="fail">FAIL<\/td><td>every request succeeded; instead 30 of 500 failed/,
  );
});
