import { writeFileSync } from 'node:fs';
import type { TopLevelSpec } from 'vega-lite';

/** One view of a layered Vega-Lite chart. */
type LayerView = Extract<TopLevelSpec, { layer: unknown }>['layer'][number];

/** One request of the demo's load: when it ended, how long it took, and whether it succeeded. */
export interface RequestSample {
  /** Seconds since the demo's load began. */
  t: number;
  ms: number;
  ok: boolean;
  phase: string;
}

/** A key event, such as the alias re-pointed or the key disabled. */
export interface KeyEvent {
  t: number;
  label: string;
}

/**
 * A period in which DescribeLedger returned one `EncryptionStatus`. `start`
 * is when the first poll that returned it came back, `lastSeen` when the
 * last one did, and `end` the start of the next period.
 */
export interface StatusPeriod {
  start: number;
  end: number;
  lastSeen: number;
  status: string;
}

export interface ReportRow {
  phase: string;
  requests: number;
  succeeded: number;
  failed: number;
  p50: string;
  p99: string;
  passed: boolean;
  /** The expectation the verdict checked, followed by what was seen instead when it failed. */
  expectation: string;
  firstError: string;
}

export interface ReportData {
  samples: RequestSample[];
  events: KeyEvent[];
  periods: StatusPeriod[];
  rows: ReportRow[];
  /** Milliseconds between DescribeLedger polls. */
  pollInterval: number;
}

const WIDTH = 900;
const HEIGHT = 320;
/** Pixels a numbered event label needs on the x axis, and between label rows. */
const LABEL_WIDTH = 16;
const LABEL_ROW_HEIGHT = 14;
export const SUCCEEDED_COLOR = '#4c78a8';
export const FAILED_COLOR = '#d62728';
const STATUS_COLORS: Record<string, string> = {
  ENABLED: '#54a24b',
  UPDATING: '#eeca3b',
  KMS_KEY_INACCESSIBLE: '#9467bd',
};

/**
 * Return a row for each label so that labels on one row are at least
 * `minGap` apart. Each label, in time order, takes the lowest row whose last
 * label is far enough behind it. For example, times [0, 0.1, 5] with a gap
 * of 1 give rows [0, 1, 0].
 */
export function staggerLabels(times: readonly number[], minGap: number): number[] {
  const order = times.map((_, i) => i).sort((a, b) => times[a]! - times[b]!);
  const rowEnds: number[] = [];
  const rows = new Array<number>(times.length);
  for (const i of order) {
    const t = times[i]!;
    let row = rowEnds.findIndex((end) => t - end >= minGap);
    if (row === -1) row = rowEnds.length;
    rowEnds[row] = t;
    rows[i] = row;
  }
  return rows;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"]/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!,
  );
}

function seconds(t: number): string {
  return `${t.toFixed(2)} s`;
}

function timeSpan(data: ReportData): number {
  const ends = [
    ...data.samples.map((s) => s.t),
    ...data.events.map((e) => e.t),
    ...data.periods.map((p) => p.end),
  ];
  return Math.max(1, ...ends);
}

function statusLayer(periods: StatusPeriod[]): LayerView {
  const statuses = [...new Set(periods.map((p) => p.status))];
  return {
    data: { values: periods },
    mark: { type: 'rect', opacity: 0.15 },
    encoding: {
      x: { field: 'start', type: 'quantitative', title: 'seconds' },
      x2: { field: 'end' },
      color: {
        field: 'status',
        type: 'nominal',
        title: 'EncryptionStatus returned by DescribeLedger',
        scale: { domain: statuses, range: statuses.map((s) => STATUS_COLORS[s] ?? '#bab0ac') },
        legend: { labelLimit: 0, titleLimit: 0, symbolOpacity: 0.4 },
      },
    },
  };
}

/** Failures are a layer of their own, drawn after the successes so that none is hidden. */
function requestLayers(samples: RequestSample[]): LayerView {
  const failedCount = samples.filter((s) => !s.ok).length;
  const succeeded = `succeeded (${samples.length - failedCount})`;
  const failed = `failed (${failedCount})`;
  const points = (ok: boolean, size: number, opacity: number): LayerView => ({
    data: {
      values: samples
        .filter((s) => s.ok === ok)
        .map((s) => ({ ...s, result: ok ? succeeded : failed })),
    },
    mark: { type: 'point', filled: true, size, opacity },
    encoding: {
      x: { field: 't', type: 'quantitative' },
      y: {
        field: 'ms',
        type: 'quantitative',
        title: 'response time (ms)',
        scale: { type: 'symlog' },
      },
      color: {
        field: 'result',
        type: 'nominal',
        title: 'requests',
        scale: { domain: [succeeded, failed], range: [SUCCEEDED_COLOR, FAILED_COLOR] },
        legend: { labelLimit: 0, symbolOpacity: 1 },
      },
    },
  });
  return { layer: [points(true, 12, 0.5), points(false, 30, 1)] };
}

/** Dashed rules at the key events, numbered at the top; close numbers go on separate rows. */
function eventLayers(events: KeyEvent[], span: number): LayerView[] {
  const rows = staggerLabels(
    events.map((e) => e.t),
    (LABEL_WIDTH * span) / WIDTH,
  );
  const values = events.map((e, i) => ({
    ...e,
    number: String(i + 1),
    y: 8 + rows[i]! * LABEL_ROW_HEIGHT,
  }));
  return [
    {
      data: { values },
      mark: { type: 'rule', strokeDash: [4, 3] },
      encoding: { x: { field: 't', type: 'quantitative' } },
    },
    {
      data: { values },
      mark: { type: 'text', fontSize: 11, fontWeight: 'bold', baseline: 'middle', dx: 6 },
      encoding: {
        x: { field: 't', type: 'quantitative' },
        y: { field: 'y', type: 'quantitative', scale: null },
        text: { field: 'number' },
      },
    },
  ];
}

async function renderChart(data: ReportData): Promise<string> {
  const vega = await import('vega');
  const vegaLite = await import('vega-lite');
  const span = timeSpan(data);
  const spec = vegaLite.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: WIDTH,
    height: HEIGHT,
    title: 'Response times of the record service, with key events and the ledger encryption status',
    layer: [
      statusLayer(data.periods),
      requestLayers(data.samples),
      ...eventLayers(data.events, span),
    ],
    resolve: { scale: { color: 'independent' } },
  }).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

function eventList(events: KeyEvent[]): string {
  const items = events.map((e) => `<li>${seconds(e.t)}: ${escapeHtml(e.label)}</li>`);
  return `<ol class="events">\n${items.join('\n')}\n</ol>`;
}

function statusList(periods: StatusPeriod[]): string {
  const items = periods.map((period, i) => {
    const before = periods[i - 1];
    const previous =
      before === undefined
        ? ''
        : `; the poll before it, back at ${seconds(before.lastSeen)}, returned ${escapeHtml(before.status)}`;
    return (
      `<li>${escapeHtml(period.status)}: observed by DescribeLedger at ${seconds(period.start)}${previous}; ` +
      `last returned at ${seconds(period.lastSeen)}</li>`
    );
  });
  return `<ul class="statuses">\n${items.join('\n')}\n</ul>`;
}

function bandExplanation(pollInterval: number): string {
  return (
    `<p>Each shaded band is the ledger's <code>EncryptionStatus</code> as DescribeLedger returned it. ` +
    `The demo polled DescribeLedger every ${pollInterval} ms, so a band starts when the first poll that ` +
    `returned its status came back, up to one poll and one response time after the server changed it. ` +
    `The key guard sets <code>KMS_KEY_INACCESSIBLE</code> at its next key check after a key is disabled, ` +
    `but the server also checks the key for each caller once that caller's last check is a key check ` +
    `interval old, so reads can fail before the band starts: the failures follow the "disable key" event, ` +
    `not the band.</p>`
  );
}

function phaseTable(rows: ReportRow[]): string {
  const lines = rows.map(
    (row) =>
      `<tr><td>${escapeHtml(row.phase)}</td><td>${row.requests}</td><td>${row.succeeded}</td><td>${row.failed}</td>` +
      `<td>${row.p50}</td><td>${row.p99}</td><td class="${row.passed ? 'pass' : 'fail'}">${row.passed ? 'PASS' : 'FAIL'}</td>` +
      `<td>${escapeHtml(row.expectation)}</td><td>${escapeHtml(row.firstError)}</td></tr>`,
  );
  return (
    `<table>\n<tr><th>phase</th><th>requests</th><th>succeeded</th><th>failed</th><th>p50 ms</th><th>p99 ms</th>` +
    `<th>verdict</th><th>expectation checked</th><th>first error</th></tr>\n${lines.join('\n')}\n</table>`
  );
}

/**
 * Write the demo's report: a timeline of response times and failures with
 * the key events and `EncryptionStatus` periods marked, drawn as SVG by
 * Vega-Lite, lists of the events and status changes, and a table per phase.
 */
export async function writeDemoReport(path: string, data: ReportData): Promise<void> {
  const svg = await renderChart(data);
  writeFileSync(
    path,
    `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Vellum demo report</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,td:nth-last-child(-n+3){text-align:left}.pass{color:#2e7d32}.fail{color:${FAILED_COLOR};font-weight:bold}</style>
</head>
<body>
<h1>Vellum demo: the reference scenario</h1>
${svg}
<h2>Key events</h2>
<p>The numbers at the top of the chart mark these events, at the time the demo sent each request.</p>
${eventList(data.events)}
<h2>Ledger encryption status</h2>
${bandExplanation(data.pollInterval)}
${statusList(data.periods)}
<h2>Phases</h2>
${phaseTable(data.rows)}
</body>
</html>
`,
  );
}
