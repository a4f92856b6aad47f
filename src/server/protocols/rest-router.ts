import { ServiceError } from '../../services/types.js';
import type { RestRoute, RestServiceRegistration } from '../registrations.js';

export interface RestMatch {
  route: RestRoute;
  registration: RestServiceRegistration;
  params: Record<string, string>;
}

interface CompiledRoute {
  route: RestRoute;
  registration: RestServiceRegistration;
  /** Literal segments as text, parameter segments as `{ name }`. */
  segments: Array<string | { name: string }>;
}

/**
 * The route table of the REST-JSON APIs. Paths match segment by segment;
 * `{name}` matches one whole segment, which is percent-decoded.
 */
export class RestRouter {
  readonly #routes: CompiledRoute[] = [];
  /** First path segment to the signing name that owns it. */
  readonly #owners = new Map<string, string>();

  add(registration: RestServiceRegistration): void {
    for (const route of registration.routes) {
      const segments = compile(route.path);
      this.#routes.push({ route, registration, segments });
      if (typeof segments[0] === 'string') this.#owners.set(segments[0], registration.signingName);
    }
    for (const prefix of registration.pathPrefixes ?? []) {
      const first = splitPath(prefix)[0];
      if (first !== undefined) this.#owners.set(first, registration.signingName);
    }
  }

  /** The route for a method and raw path, or undefined when none matches. */
  match(method: string, rawPath: string): RestMatch | undefined {
    const segments = splitPath(rawPath);
    for (const compiled of this.#routes) {
      if (compiled.route.method !== method) continue;
      const params = matchSegments(compiled.segments, segments);
      if (params !== undefined) {
        return { route: compiled.route, registration: compiled.registration, params };
      }
    }
    return undefined;
  }

  /** Find the signing name that owns a path's first segment, so unmatched paths still verify against it. */
  signingNameFor(rawPath: string): string | undefined {
    const first = splitPath(rawPath)[0];
    return first === undefined ? undefined : this.#owners.get(first);
  }
}

function compile(path: string): CompiledRoute['segments'] {
  return splitPath(path).map((segment) =>
    segment.startsWith('{') && segment.endsWith('}') ? { name: segment.slice(1, -1) } : segment,
  );
}

function splitPath(path: string): string[] {
  return path.split('/').filter((segment) => segment.length > 0);
}

function matchSegments(
  pattern: CompiledRoute['segments'],
  segments: string[],
): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i]!;
    const actual = segments[i]!;
    if (typeof expected === 'string') {
      if (expected !== actual) return undefined;
    } else {
      params[expected.name] = decodeSegment(actual);
    }
  }
  return params;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ServiceError(
      'InvalidParameterException',
      `The path segment '${segment}' is not valid percent-encoding.`,
    );
  }
}

/** Decode a REST-JSON body: none, or a JSON object. */
export function decodeRestBody(body: Buffer): Record<string, unknown> | undefined {
  if (body.length === 0) return undefined;
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
    throw new ServiceError('SerializationException', 'The request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}
