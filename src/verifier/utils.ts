// Argument checks and byte helpers shared by the verifier modules.

/** Length in bytes of a SHA-256 hash, the only hash size Vellum uses. */
export const HASH_LENGTH = 32;

/** Names the type of a value for error messages: "null", "array", "Buffer", "string"… */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === 'string' && name !== '' ? name : 'object';
  }
  return typeof value;
}

export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/**
 * Checks that `value` is a Uint8Array whose length is one of `lengths`.
 * @throws TypeError when it is not a Uint8Array, RangeError when the length is wrong.
 */
export function checkBytes(value: unknown, name: string, ...lengths: number[]): Uint8Array {
  if (!isBytes(value)) {
    throw new TypeError(`${name}: expected Uint8Array, got ${describeType(value)}`);
  }
  if (lengths.length > 0 && !lengths.includes(value.length)) {
    throw new RangeError(`${name}: expected ${lengths.join(' or ')} bytes, got ${value.length}`);
  }
  return value;
}

/**
 * Checks that `value` is an array of 32-byte Uint8Arrays.
 * @throws TypeError for a wrong type, RangeError for an element of the wrong length.
 */
export function checkHashArray(value: unknown, name: string): readonly Uint8Array[] {
  if (!Array.isArray(value)) {
    throw new TypeError(`${name}: expected an array of Uint8Array, got ${describeType(value)}`);
  }
  value.forEach((element, index) => checkBytes(element, `${name}[${index}]`, HASH_LENGTH));
  return value as readonly Uint8Array[];
}

/**
 * Checks that `value` is an integer in [0, Number.MAX_SAFE_INTEGER].
 * @throws TypeError when it is not an integer number, RangeError when it is out of range.
 */
export function checkSafeInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    const shown = typeof value === 'number' ? String(value) : describeType(value);
    throw new TypeError(`${name}: expected a non-negative integer, got ${shown}`);
  }
  if (value < 0 || value > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(
      `${name}: expected an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got ${value}`,
    );
  }
  return value;
}

/** Checks that `value` is a non-null object, the shape of every options argument here. */
export function checkOptions(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${name}: expected an object, got ${describeType(value)}`);
  }
  return value as Record<string, unknown>;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return false;
  }
  return true;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Returns a plain Uint8Array copy, so callers never share or receive a Buffer. */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
