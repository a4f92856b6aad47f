import { InvalidArgumentError } from 'commander';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parse a duration such as `500ms`, `10s`, `5m`, `24h` or `7d` into
 * milliseconds. Raises commander's `InvalidArgumentError` with the accepted
 * forms otherwise.
 *
 * @example
 * parseDuration('5m'); // => 300000
 */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (match === null) {
    throw new InvalidArgumentError(
      `expected a duration such as 500ms, 10s, 5m, 24h or 7d, got ${JSON.stringify(text)}`,
    );
  }
  const milliseconds = Number(match[1]) * UNITS[match[2]!]!;
  if (!Number.isSafeInteger(Math.round(milliseconds)) || milliseconds < 1) {
    throw new InvalidArgumentError(
      `expected a duration of at least 1ms, got ${JSON.stringify(text)}`,
    );
  }
  return Math.round(milliseconds);
}
