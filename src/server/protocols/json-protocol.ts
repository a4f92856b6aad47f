import { ServiceError } from '../../services/types.js';

const JSON_CONTENT_TYPES = [
  'application/x-amz-json-1.0',
  'application/x-amz-json-1.1',
  'application/json',
];

/** The response content type of an AWS JSON protocol version. */
export function jsonContentType(version: '1.0' | '1.1'): string {
  return `application/x-amz-json-${version}`;
}

/**
 * Decode the body of an AWS JSON request: an empty body is `{}`, anything
 * else must be a JSON object sent with a JSON content type. Raises a
 * `SerializationException` naming the problem otherwise.
 */
export function decodeJsonBody(
  body: Buffer,
  contentType: string | undefined,
  version: '1.0' | '1.1',
): Record<string, unknown> {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (!JSON_CONTENT_TYPES.includes(mediaType)) {
    throw new ServiceError(
      'SerializationException',
      `Content-Type '${contentType ?? ''}' is not supported for X-Amz-Target requests; ` +
        `send ${jsonContentType(version)}.`,
    );
  }
  if (body.length === 0) return {};

  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new ServiceError(
      'SerializationException',
      `The request body is not valid JSON: ${(error as Error).message}.`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ServiceError(
      'SerializationException',
      `The request body must be a JSON object, not ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}.`,
    );
  }
  return value as Record<string, unknown>;
}

/** Render the body of an AWS JSON error as the SDKs and the CLI parse it. */
export function jsonErrorBody(type: string, message: string): string {
  return JSON.stringify({ __type: type, message });
}
