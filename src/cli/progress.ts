/** Output for progress lines: a stream, and whether it is a terminal. */
export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  /** The stream progress goes to; standard error by default, so standard output keeps the results. */
  output?: ProgressOutput;
  /** Milliseconds between progress lines when the output is not a terminal. */
  lineInterval?: number;
  /** Milliseconds between redraws of the line on a terminal. */
  redrawInterval?: number;
}

/** Seconds with one decimal: `12.3 s`. */
export function formatElapsed(milliseconds: number): string {
  return `${(milliseconds / 1000).toFixed(1)} s`;
}

/**
 * Run `work` and report on it while it runs: `label: <status>, <elapsed>`.
 * On a terminal the line is redrawn in place a few times a second and
 * erased when the work ends, so the lines printed after it stay as they
 * were. Elsewhere, such as a log file or a pipe, a line is printed every
 * `lineInterval` (5 s by default); work that ends sooner prints nothing.
 */
export async function withProgress<T>(
  label: string,
  status: () => string,
  work: () => Promise<T>,
  options: ProgressOptions = {},
): Promise<T> {
  const output = options.output ?? process.stderr;
  const terminal = output.isTTY === true;
  const started = performance.now();
  const line = () => {
    let text: string;
    try {
      text = status();
    } catch (error) {
      text = `status unavailable (${(error as Error).message})`;
    }
    return `${label}: ${text}${text === '' ? '' : ', '}${formatElapsed(performance.now() - started)}`;
  };
  let drawn = false;
  const timer = setInterval(
    () => {
      if (terminal) {
        // Keep the line within the terminal's width, so that it redraws in place.
        const columns = (output as { columns?: number }).columns ?? 120;
        output.write(`\r\x1b[2K${line().slice(0, Math.max(20, columns - 1))}`);
        drawn = true;
      } else output.write(`${line()}\n`);
    },
    terminal ? (options.redrawInterval ?? 250) : (options.lineInterval ?? 5000),
  );
  timer.unref();
  try {
    return await work();
  } finally {
    clearInterval(timer);
    if (drawn) output.write('\r\x1b[2K');
  }
}
