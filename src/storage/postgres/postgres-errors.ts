import { StoreUnavailableError } from '../store.js';

/** Node socket errors that mean the server could not be reached or went away. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOENT',
]);

/**
 * SQLSTATE codes after which the same call may succeed later: class 08
 * (connection exception) is matched by prefix; these are the others.
 * 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now,
 * 53300 too_many_connections, 57014 query_canceled (the statement timeout).
 */
const RETRYABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '57014']);

/** Messages that `pg` raises without a code when a connection breaks or a pool wait times out. */
const RETRYABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Connection terminated due to connection timeout',
];

/** True when `error` means PostgreSQL is unreachable, restarting or timed out. */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (SOCKET_CODES.has(code) || RETRYABLE_SQLSTATES.has(code) || code.startsWith('08')) {
      return true;
    }
  }
  return RETRYABLE_MESSAGES.some((message) => error.message.includes(message));
}

/** Turn an unavailability error into `StoreUnavailableError`; return anything else unchanged. */
export function mapUnavailable(error: unknown): unknown {
  if (!isUnavailable(error)) return error;
  return new StoreUnavailableError(
    `PostgreSQL is unavailable: ${(error as Error).message}; retry once it is back`,
    { cause: error },
  );
}
