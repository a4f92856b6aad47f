import { writeFileSync } from 'node:fs';

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

/** A period in which the ledger reported one `EncryptionStatus`. */
export interface StatusPeriod {
  start: number;
  end: number;
  status: string;
}

export interface ReportRow {
  phase: string;
  requests: number;
  succeeded: number;
  failed: number;
  p50: string;
  p99: string;
  verdict: string;
  firstError: string;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"]/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!,
  );
}

/**
 * Write the demo's report: a timeline of response times and failures with
 * the key events and `EncryptionStatus` periods marked, drawn as SVG by
 * Vega-Lite, and a table per phase.
 */
export async function writeDemoReport(
  path: string,
  data: {
    samples: RequestSample[];
    events: KeyEvent[];
    periods: StatusPeriod[];
    rows: ReportRow[];
  },
): Promise<void> {
  const vega = await import('vega');
  const vegaLite = await import('vega-lite');
  const spec = vegaLite.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 900,
    height: 320,
    title: 'Response times of the record service, with key events and the ledger encryption status',
    layer: [
      {
        data: { values: data.periods },
        mark: { type: 'rect', opacity: 0.15 },
        encoding: {
          x: { field: 'start', type: 'quantitative', title: 'seconds' },
          x2: { field: 'end' },
          color: { field: 'status', type: 'nominal', title: 'EncryptionStatus' },
        },
      },
      {
        data: {
          values: data.samples.map((s) => ({ ...s, result: s.ok ? 'succeeded' : 'failed' })),
        },
        mark: { type: 'point', filled: true, size: 12 },
        encoding: {
          x: { field: 't', type: 'quantitative' },
          y: {
            field: 'ms',
            type: 'quantitative',
            title: 'response time (ms)',
            scale: { type: 'symlog' },
          },
          shape: { field: 'result', type: 'nominal', title: 'request' },
          opacity: { value: 0.7 },
        },
      },
      {
        data: { values: data.events },
        mark: { type: 'rule', strokeDash: [4, 3] },
        encoding: { x: { field: 't', type: 'quantitative' } },
      },
      {
        data: { values: data.events },
        mark: { type: 'text', angle: 270, align: 'left', dx: 4, dy: -4, fontSize: 10 },
        encoding: {
          x: { field: 't', type: 'quantitative' },
          text: { field: 'label' },
          y: { value: 300 },
        },
      },
    ],
    resolve: { scale: { color: 'independent' } },
  }).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();

  const rows = data.rows
    .map(
      (row) =>
        `<tr><td>${escapeHtml(row.phase)}</td><td>${row.requests}</td><td>${row.succeeded}</td><td>${row.failed}</td>` +
        `<td>${row.p50}</td><td>${row.p99}</td><td>${escapeHtml(row.verdict)}</td><td>${escapeHtml(row.firstError)}</td></tr>`,
    )
    .join('\n');
  writeFileSync(
    path,
    `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Vellum demo report</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,td:nth-last-child(-n+2){text-align:left}</style>
</head>
<body>
<h1>Vellum demo: the reference scenario</h1>
${svg}
<h2>Phases</h2>
<table>
<tr><th>phase</th><th>requests</th><th>succeeded</th><th>failed</th><th>p50 ms</th><th>p99 ms</th><th>verdict</th><th>first error</th></tr>
${rows}
</table>
</body>
</html>
`,
  );
}
