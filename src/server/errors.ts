import { StorageUnavailableError } from '../engine/errors.js';
import { ServiceError } from '../services/types.js';
import { StoreUnavailableError } from '../storage/store.js';
import { AUTH_MESSAGES, AuthFailure, authErrorCode, type Protocol } from './sigv4/auth-failure.js';

/** An error as written on the wire. */
export interface WireError {
  code: string;
  message: string;
  status: number;
  /** True when the cause is unexpected and must be logged with its stack. */
  internal: boolean;
  /** Extra members of a REST-JSON error body. */
  fields?: Readonly<Record<string, string>>;
}

const INTERNAL_FAILURE_MESSAGE =
  'The request processing has failed because of an unknown error, exception or failure.';

/**
 * The code of the 503 sent when the store cannot be reached, for a service
 * that names none of its own: AWS's common `ServiceUnavailable`, spelled as
 * each protocol spells error codes.
 */
const UNAVAILABLE_CODES: Readonly<Record<Protocol, string>> = {
  json: 'ServiceUnavailableException',
  'rest-json': 'ServiceUnavailableException',
  query: 'ServiceUnavailable',
};

/**
 * Map anything a request raised to the AWS code, message and status of one
 * protocol: verification failures by kind, `ServiceError` as given, an
 * unreachable store as a retryable 503 with `unavailableCode`, errors that
 * fastify raised while reading the request by their status, and everything
 * else as `InternalFailure` 500.
 */
export function toWireError(
  error: unknown,
  protocol: Protocol,
  unavailableCode: string = UNAVAILABLE_CODES[protocol],
): WireError {
  if (error instanceof AuthFailure) {
    const { code, status } = authErrorCode(protocol, error.kind);
    let message = error.message;
    if (error.kind === 'missing-token' && protocol === 'query') {
      message = AUTH_MESSAGES.missingTokenQuery;
    }
    return { code, message, status, internal: false };
  }
  if (error instanceof ServiceError) {
    return {
      code: error.code,
      message: error.message,
      status: error.status,
      internal: false,
      fields: error.fields,
    };
  }

  // Any step of a request may read the store, the signature check included.
  // A store that restarts or is out of reach is worth a retry.
  if (error instanceof StorageUnavailableError || error instanceof StoreUnavailableError) {
    return { code: unavailableCode, message: error.message, status: 503, internal: false };
  }

  const framework = frameworkError(error, protocol);
  if (framework !== undefined) return framework;
  return {
    code: 'InternalFailure',
    message: INTERNAL_FAILURE_MESSAGE,
    status: 500,
    internal: true,
  };
}

/** Errors fastify raises before the handler runs, such as a body over the limit. */
function frameworkError(error: unknown, protocol: Protocol): WireError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, statusCode, message } = error as {
    code?: unknown;
    statusCode?: unknown;
    message?: unknown;
  };
  if (typeof code !== 'string' || !code.startsWith('FST_') || typeof statusCode !== 'number') {
    return undefined;
  }
  if (statusCode === 413) {
    return {
      code: protocol === 'query' ? 'RequestEntityTooLarge' : 'RequestEntityTooLargeException',
      message: `${String(message)}; send a smaller request body.`,
      status: 413,
      internal: false,
    };
  }
  if (statusCode >= 400 && statusCode < 500) {
    return {
      code: protocol === 'query' ? 'MalformedInput' : 'SerializationException',
      message: String(message),
      status: 400,
      internal: false,
    };
  }
  return undefined;
}
