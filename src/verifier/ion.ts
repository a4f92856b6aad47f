// Ion input handling: loading text, binary or dom input, Ion Hash, and typed field access that
// reports a VerificationError naming the field on any unexpected shape.
import { IonTypes, loadAll, makeBinaryWriter } from 'ion-js';
import type { IonType, dom } from 'ion-js';
import { cryptoHasherProvider, makeHashWriter } from 'ion-hash-js';

import type { BlockAddress, VerificationErrorCode, VerificationErrorDetails } from './errors.js';
import { VerificationError } from './errors.js';
import { HASH_LENGTH, describeType, isBytes } from './utils.js';

/** Ion input: text, binary Ion, or an ion-js dom value. */
export type IonInput = string | Uint8Array | dom.Value;

const sha256Provider = cryptoHasherProvider('sha256');

/**
 * Computes the Ion Hash 1.0 of a value with SHA-256, using ion-hash-js. A dom value that ion-js
 * cannot write, such as one with a non-string annotation, fails with the context's code.
 */
export function ionHash(value: dom.Value, label: string, context: ParseContext): Uint8Array {
  try {
    const writer = makeHashWriter(makeBinaryWriter(), sha256Provider);
    value.writeTo(writer);
    return new Uint8Array(writer.digest());
  } catch (error) {
    return context.failAt(label, `cannot compute the Ion hash: ${errorMessage(error)}`, error);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isDomValue(value: unknown): value is dom.Value {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { getType?: unknown }).getType === 'function' &&
    typeof (value as { writeTo?: unknown }).writeTo === 'function'
  );
}

/**
 * Error reporting state of one parse: the code to raise and the subject that starts each
 * message. The subject starts generic ("revision") and gains the block address and document id
 * as they are read.
 */
export class ParseContext {
  constructor(
    readonly code: VerificationErrorCode,
    public subject: string,
    public details: VerificationErrorDetails = {},
  ) {}

  fail(message: string, cause?: unknown): never {
    throw new VerificationError(this.code, `${this.subject}: ${message}`, {
      ...this.details,
      cause,
    });
  }

  /** Fails with a message about the field at `label`, or about the value itself when empty. */
  failAt(label: string, message: string, cause?: unknown): never {
    return this.fail(label === '' ? message : `${label}: ${message}`, cause);
  }
}

/**
 * Loads exactly one Ion value from `input`.
 * @throws TypeError when `input` is neither a string, a Uint8Array nor a dom value;
 *   VerificationError with the context's code for invalid Ion or a count other than one value.
 */
export function loadOne(input: unknown, name: string, context: ParseContext): dom.Value {
  if (isDomValue(input)) return input;
  if (typeof input !== 'string' && !isBytes(input)) {
    throw new TypeError(
      `${name}: expected Ion text, binary Ion or an ion-js dom value, got ${describeType(input)}`,
    );
  }
  let values: dom.Value[];
  try {
    values = loadAll(input);
  } catch (error) {
    return context.fail(`invalid Ion: ${errorMessage(error)}`, error);
  }
  if (values.length !== 1) {
    return context.fail(`expected 1 Ion value, got ${values.length}`);
  }
  return values[0] as dom.Value;
}

function describeValue(value: dom.Value): string {
  const type = value.getType();
  if (type === IonTypes.NULL) return 'null';
  return value.isNull() ? `null.${type.name}` : type.name;
}

function expectType(value: dom.Value, type: IonType, label: string, context: ParseContext): void {
  if (value.getType() !== type || value.isNull()) {
    context.failAt(label, `expected ${type.name}, got ${describeValue(value)}`);
  }
}

export function readString(value: dom.Value, label: string, context: ParseContext): string {
  expectType(value, IonTypes.STRING, label, context);
  return value.stringValue() as string;
}

/** Reads an int in [0, Number.MAX_SAFE_INTEGER]. */
export function readSafeInteger(value: dom.Value, label: string, context: ParseContext): number {
  expectType(value, IonTypes.INT, label, context);
  const integer = value.bigIntValue() as bigint;
  if (integer < 0n || integer > BigInt(Number.MAX_SAFE_INTEGER)) {
    context.failAt(label, `expected an int from 0 to ${Number.MAX_SAFE_INTEGER}, got ${integer}`);
  }
  return Number(integer);
}

/** Reads a blob whose length is one of `lengths` (32 bytes when none are given). */
export function readBlob(
  value: dom.Value,
  label: string,
  context: ParseContext,
  ...lengths: number[]
): Uint8Array {
  expectType(value, IonTypes.BLOB, label, context);
  const bytes = new Uint8Array(value.uInt8ArrayValue() as Uint8Array);
  const allowed = lengths.length > 0 ? lengths : [HASH_LENGTH];
  if (!allowed.includes(bytes.length)) {
    context.failAt(label, `expected ${allowed.join(' or ')} bytes, got ${bytes.length}`);
  }
  return bytes;
}

export function readList(value: dom.Value, label: string, context: ParseContext): dom.Value[] {
  expectType(value, IonTypes.LIST, label, context);
  return value.elements();
}

export function readStruct(value: dom.Value, label: string, context: ParseContext): StructReader {
  expectType(value, IonTypes.STRUCT, label, context);
  return new StructReader(value, label, context);
}

/**
 * Typed access to the fields of a non-null Ion struct. A repeated field is rejected because a
 * verifier cannot tell which copy the hash was meant to cover.
 */
export class StructReader {
  constructor(
    readonly value: dom.Value,
    readonly label: string,
    readonly context: ParseContext,
  ) {}

  path(name: string): string {
    return this.label === '' ? name : `${this.label}.${name}`;
  }

  optional(name: string): dom.Value | undefined {
    const values = this.value.getAll(name);
    if (values === null || values.length === 0) return undefined;
    if (values.length > 1) {
      this.context.failAt(this.path(name), `expected 1 field, got ${values.length}`);
    }
    return values[0];
  }

  required(name: string): dom.Value {
    const value = this.optional(name);
    if (value === undefined) return this.context.failAt(this.path(name), 'missing field');
    return value;
  }

  string(name: string): string {
    return readString(this.required(name), this.path(name), this.context);
  }

  safeInteger(name: string): number {
    return readSafeInteger(this.required(name), this.path(name), this.context);
  }

  blob(name: string, ...lengths: number[]): Uint8Array {
    return readBlob(this.required(name), this.path(name), this.context, ...lengths);
  }

  /** Reads a blob of any length. */
  bytes(name: string): Uint8Array {
    const value = this.required(name);
    expectType(value, IonTypes.BLOB, this.path(name), this.context);
    return new Uint8Array(value.uInt8ArrayValue() as Uint8Array);
  }

  timestamp(name: string): void {
    expectType(this.required(name), IonTypes.TIMESTAMP, this.path(name), this.context);
  }

  list(name: string): dom.Value[] {
    return readList(this.required(name), this.path(name), this.context);
  }

  struct(name: string): StructReader {
    return readStruct(this.required(name), this.path(name), this.context);
  }

  /** Reads `{strandId: string, sequenceNo: int}`. */
  blockAddress(name: string): BlockAddress {
    const address = this.struct(name);
    return { strandId: address.string('strandId'), sequenceNo: address.safeInteger('sequenceNo') };
  }
}
