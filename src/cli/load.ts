import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import * as hdr from 'hdr-histogram-js';
import { Agent, request } from 'undici';
import { loadScript, METHODS, phaseArrivals, type Processor, type Step } from './load-script.js';

/**
 * A runner for Artillery scripts of the kind the reference scenario uses:
 * `config.target`, `config.phases` (`duration` with `arrivalRate`, or
 * `arrivalCount`), `config.processor`, `config.variables`, and scenarios
 * whose flows contain `function`, `get`, `post`, `put`, `delete` (with `url`,
 * `json` and `headers`), `think` and `log` steps. `loadScript` rejects a
 * script that uses anything else before a request is sent. Arrivals follow
 * an open model: each phase starts virtual users at its rate, whatever the
 * responses take. A template that is exactly one `{{ variable }}` keeps the
 * variable's type, so a number stays a number in JSON.
 */

export interface LoadOptions {
  file: string;
  /** Overrides `config.target`. */
  target?: string;
  /** Writes the summary as JSON here. */
  output?: string;
  /** Print `log` steps and period reports. */
  quiet?: boolean;
  /** Seconds between progress reports. */
  reportInterval?: number;
  /** Called after each response with its time in milliseconds and its status code. */
  onResponse?: (milliseconds: number, status: number) => void;
  /** Called for each request that failed without a response, with its error code. */
  onError?: (code: string) => void;
  /**
   * Stops the run early: no virtual user starts and no flow takes another
   * step after it fires. The summary covers the requests sent until then.
   */
  signal?: AbortSignal;
}

export interface LoadSummary {
  /** Responses by HTTP status code. */
  codes: Record<string, number>;
  /** Requests that failed without a response, by error code. */
  errors: Record<string, number>;
  /**
   * Virtual users that the script itself stopped, by message: a processor
   * function that threw or called `done(error)`, or a template variable that
   * no step had set.
   */
  scriptErrors: Record<string, number>;
  requests: number;
  responses: number;
  vusersCreated: number;
  vusersCompleted: number;
  vusersFailed: number;
  /** Response time in milliseconds. */
  responseTime: {
    min: number;
    max: number;
    mean: number;
    median: number;
    p95: number;
    p99: number;
  };
  /** Counters that processors emitted with `events.emit('counter', name, value)`. */
  counters: Record<string, number>;
  durationSeconds: number;
  /** True when `signal` stopped the run before its phases ended. */
  stopped: boolean;
}

/** An error in the script or its processor that stops a virtual user, counted by its message. */
export class ScriptStepError extends Error {
  override name = 'ScriptStepError';
}

/**
 * Render `{{ name }}` templates in values and mapping keys. A template that
 * is one variable keeps its type. Throws a `ScriptStepError` for a variable
 * that is not set.
 */
export function render(value: unknown, vars: Record<string, unknown>): unknown {
  if (typeof value === 'string') {
    const whole = /^\s*\{\{\s*([A-Za-z_]\w*|\$target)\s*\}\}\s*$/.exec(value);
    if (whole !== null) return variable(vars, whole[1]!);
    return value.replace(/\{\{\s*([A-Za-z_]\w*|\$target)\s*\}\}/g, (_, name: string) =>
      String(variable(vars, name)),
    );
  }
  if (Array.isArray(value)) return value.map((item) => render(item, vars));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [String(render(key, vars)), render(item, vars)]),
    );
  }
  return value;
}

function variable(vars: Record<string, unknown>, name: string): unknown {
  const value = vars[name];
  if (value === undefined) throw new ScriptStepError(`undefined variable ${name}`);
  return value;
}

/** Call a processor function and wait until it calls `done` or its promise settles. */
async function callProcessorFunction(
  processor: Processor,
  name: string,
  context: { vars: Record<string, unknown> },
  events: EventEmitter,
): Promise<void> {
  // loadScript checked that the processor exports every function a flow names.
  const fn = processor[name]!;
  try {
    await new Promise<void>((resolveStep, reject) => {
      const result = fn(context, events, (error?: unknown) =>
        error ? reject(error) : resolveStep(),
      );
      if (result instanceof Promise) result.then(() => resolveStep(), reject);
    });
  } catch (error) {
    const message = error instanceof Error ? error.message || error.name : String(error);
    throw new ScriptStepError(`${name}: ${message}`);
  }
}

/** Response times, kept in an HDR histogram with microsecond resolution. */
export class ResponseTimes {
  #histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });

  record(milliseconds: number): void {
    this.#histogram.recordValue(Math.max(1, Math.round(milliseconds * 1000)));
  }

  /** Summarize the times recorded so far, in milliseconds. */
  summarize(): LoadSummary['responseTime'] {
    const histogram = this.#histogram;
    const min = histogram.minNonZeroValue;
    const max = histogram.maxValue;
    // The histogram reports a percentile as the top of its bucket and the
    // mean from bucket midpoints. Both can lie above the largest recorded
    // time, so they are clamped to the range of recorded times.
    const clamp = (micros: number) => Math.min(max, Math.max(min, micros));
    const ms = (micros: number) => Number((micros / 1000).toFixed(1));
    return {
      min: ms(min),
      max: ms(max),
      mean: ms(clamp(histogram.mean)),
      median: ms(clamp(histogram.getValueAtPercentile(50))),
      p95: ms(clamp(histogram.getValueAtPercentile(95))),
      p99: ms(clamp(histogram.getValueAtPercentile(99))),
    };
  }

  destroy(): void {
    this.#histogram.destroy();
  }
}

/** Resolve a request's `url`: an absolute http:// or https:// URL is used as it is, and a path is appended to the target. */
function requestUrl(target: string, url: string): string {
  return /^https?:\/\//i.test(url) ? url : `${target}${url}`;
}

/** Build a virtual user's variables, taking one value, picked at random, from each list in `config.variables`. */
function initialVariables(
  variables: Record<string, unknown>,
  target: string,
): Record<string, unknown> {
  const picked = Object.entries(variables).map(([name, value]) => [
    name,
    Array.isArray(value) ? value[Math.floor(Math.random() * value.length)] : value,
  ]);
  return { ...Object.fromEntries(picked), $target: target };
}

/** Run a script and resolve with its summary once every virtual user finished. */
export async function runLoad(options: LoadOptions): Promise<LoadSummary> {
  const { script, processor } = await loadScript(options.file);
  const target = (options.target ?? script.config.target ?? '').replace(/\/$/, '');
  if (!/^https?:\/\//.test(target)) {
    throw new Error(
      `the target must be an http:// or https:// address; pass --target, got ${JSON.stringify(target)}`,
    );
  }
  const phases = script.config.phases ?? [{ duration: 1, arrivalCount: 1 }];
  const print = (line: string) => {
    if (!options.quiet) process.stdout.write(`${line}\n`);
  };

  const responseTimes = new ResponseTimes();
  const summary: LoadSummary = {
    codes: {},
    errors: {},
    scriptErrors: {},
    requests: 0,
    responses: 0,
    vusersCreated: 0,
    vusersCompleted: 0,
    vusersFailed: 0,
    responseTime: { min: 0, max: 0, mean: 0, median: 0, p95: 0, p99: 0 },
    counters: {},
    durationSeconds: 0,
    stopped: false,
  };
  const signal = options.signal;
  // Resolves when the run is stopped, to cut the waits between arrivals short.
  const stop = new Promise<void>((resolveStop) => {
    if (signal?.aborted) resolveStop();
    signal?.addEventListener('abort', () => resolveStop(), { once: true });
  });
  const sleep = (ms: number) =>
    Promise.race([new Promise((resolveSleep) => setTimeout(resolveSleep, ms)), stop]);
  const events = new EventEmitter();
  events.on('counter', (name: string, value = 1) => {
    summary.counters[name] = (summary.counters[name] ?? 0) + Number(value);
  });
  const agent = new Agent({ connections: 256, keepAliveTimeout: 10_000 });
  const totalWeight = script.scenarios.reduce((sum, s) => sum + (s.weight ?? 1), 0);

  const pickScenario = () => {
    let roll = Math.random() * totalWeight;
    for (const scenario of script.scenarios) {
      roll -= scenario.weight ?? 1;
      if (roll < 0) return scenario;
    }
    return script.scenarios[0]!;
  };

  const runStep = async (step: Step, context: { vars: Record<string, unknown> }) => {
    if (step.function !== undefined) {
      await callProcessorFunction(processor, step.function, context, events);
      return;
    }
    if (step.log !== undefined) {
      print(String(render(step.log, context.vars)));
      return;
    }
    if (step.think !== undefined) {
      await sleep(Number(step.think) * 1000);
      return;
    }
    const method = METHODS.find((name) => step[name] !== undefined)!;
    const spec = step[method]!;
    const url = requestUrl(target, String(render(spec.url, context.vars)));
    const headers: Record<string, string> = {
      'user-agent': 'vellum load',
      ...(render(spec.headers ?? {}, context.vars) as Record<string, string>),
    };
    let body: string | undefined;
    if (spec.json !== undefined) {
      body = JSON.stringify(render(spec.json, context.vars));
      headers['content-type'] = 'application/json';
    }
    summary.requests++;
    const started = performance.now();
    try {
      const response = await request(url, {
        method: method.toUpperCase() as 'GET',
        headers,
        body,
        dispatcher: agent,
      });
      await response.body.dump();
      const elapsed = performance.now() - started;
      responseTimes.record(elapsed);
      options.onResponse?.(elapsed, response.statusCode);
      summary.responses++;
      summary.codes[response.statusCode] = (summary.codes[response.statusCode] ?? 0) + 1;
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as Error).name;
      summary.errors[code] = (summary.errors[code] ?? 0) + 1;
      options.onError?.(code);
      throw error;
    }
  };

  const virtualUser = async () => {
    summary.vusersCreated++;
    const context = { vars: initialVariables(script.config.variables ?? {}, target) };
    try {
      for (const step of pickScenario().flow) {
        if (signal?.aborted) return;
        await runStep(step, context);
      }
      summary.vusersCompleted++;
    } catch (error) {
      summary.vusersFailed++;
      if (error instanceof ScriptStepError) {
        summary.scriptErrors[error.message] = (summary.scriptErrors[error.message] ?? 0) + 1;
      }
    }
  };

  const started = performance.now();
  const running = new Set<Promise<void>>();
  const interval = (options.reportInterval ?? 10) * 1000;
  const progress = setInterval(() => {
    print(
      `progress at ${Math.round((performance.now() - started) / 1000)} s: ${summary.vusersCreated} virtual users, ` +
        `${summary.responses} responses ${JSON.stringify(summary.codes)}, ` +
        `${Object.values(summary.errors).reduce((a, b) => a + b, 0)} errors ${JSON.stringify(summary.errors)}, ` +
        `${Object.values(summary.scriptErrors).reduce((a, b) => a + b, 0)} script errors ${JSON.stringify(summary.scriptErrors)}`,
    );
  }, interval);
  progress.unref();
  try {
    for (const [index, phase] of phases.entries()) {
      const duration = phase.duration * 1000;
      const arrivals = phaseArrivals(phase);
      print(
        `phase ${index + 1}${phase.name ? ` (${phase.name})` : ''}: ${arrivals} virtual users over ${duration / 1000} s`,
      );
      const phaseStart = performance.now();
      for (let i = 0; i < arrivals && !signal?.aborted; i++) {
        // Open model: virtual user i starts at its scheduled time, late responses or not.
        const due = phaseStart + (i * duration) / arrivals;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        if (signal?.aborted) break;
        const user = virtualUser().finally(() => running.delete(user));
        running.add(user);
      }
      const rest = phaseStart + duration - performance.now();
      if (rest > 0 && !signal?.aborted) await sleep(rest);
      if (signal?.aborted) break;
    }
    await Promise.all(running);
    summary.stopped = signal?.aborted === true;
  } finally {
    clearInterval(progress);
    await agent.close();
  }

  summary.durationSeconds = Number(((performance.now() - started) / 1000).toFixed(2));
  if (summary.responses > 0) summary.responseTime = responseTimes.summarize();
  responseTimes.destroy();
  if (options.output !== undefined)
    writeFileSync(options.output, `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

/** The summary in the layout of Artillery's final report. */
export function formatSummary(summary: LoadSummary): string {
  const lines: Array<[string, string | number]> = [];
  for (const [code, count] of Object.entries(summary.codes))
    lines.push([`http.codes.${code}`, count]);
  for (const [code, count] of Object.entries(summary.errors)) lines.push([`errors.${code}`, count]);
  for (const [message, count] of Object.entries(summary.scriptErrors)) {
    lines.push([`errors.${message}`, count]);
  }
  lines.push(['http.requests', summary.requests], ['http.responses', summary.responses]);
  const rows = lines.map(([name, value]) => `${`${name}: `.padEnd(40, '.')} ${value}`);
  rows.push('http.response_time:');
  for (const [name, value] of Object.entries(summary.responseTime)) {
    rows.push(`  ${`${name}: `.padEnd(38, '.')} ${value}`);
  }
  for (const [name, value] of Object.entries(summary.counters))
    rows.push(`${`${name}: `.padEnd(40, '.')} ${value}`);
  rows.push(
    `${'vusers.completed: '.padEnd(40, '.')} ${summary.vusersCompleted}`,
    `${'vusers.created: '.padEnd(40, '.')} ${summary.vusersCreated}`,
    `${'vusers.failed: '.padEnd(40, '.')} ${summary.vusersFailed}`,
  );
  const stopped = summary.stopped ? ', stopped before the phases ended' : '';
  return `Summary report, ${summary.durationSeconds} s${stopped}\n${rows.join('\n')}\n`;
}
