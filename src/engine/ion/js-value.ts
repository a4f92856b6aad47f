// Plain JavaScript values written as Ion, with the types `dom.Value.from`
// gives them, so that a caller can pass a document without building an
// ion-js dom value first.
import { Decimal, Timestamp, dom } from 'ion-js';

import type { IonValueWriter } from './ion-value-writer.js';
import { writeDomValue } from './ion-value-writer.js';

/**
 * A document given as a plain object: field names to JavaScript values.
 * Any object type is accepted here, so that interfaces and class instances
 * pass. What has no Ion form is rejected when the document is written.
 */
export type DocumentObject = object;

/**
 * Maximum nesting of lists and structs in a plain object. It stops a value
 * that contains itself with a clear error, well before the call stack ends.
 */
export const MAX_JS_VALUE_DEPTH = 1000;

/** Error for a JavaScript value with no Ion form. `path` names where the value is. */
export class JsValueError extends TypeError {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path === '' ? 'The value' : `The value at ${path}`} ${detail}`);
    this.name = 'JsValueError';
  }
}

/**
 * Return true for an object that is written as a struct: not an array, a
 * byte array, a date, a boxed primitive, an ion-js Decimal or Timestamp, a
 * dom value, or a built-in such as a Map whose contents have no Ion form.
 */
export function isDocumentObject(value: unknown): value is DocumentObject {
  return (
    typeof value === 'object' &&
    value !== null &&
    !(value instanceof dom.Value) &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array) &&
    !(value instanceof Date) &&
    !(value instanceof Timestamp) &&
    !(value instanceof Decimal) &&
    !(value instanceof Number) &&
    !(value instanceof String) &&
    !(value instanceof Boolean) &&
    !(value instanceof BigInt) &&
    lossyKind(value) === undefined
  );
}

/**
 * Name the kind of a value for messages: `an array`, `a Date`, `a Map`,
 * or the `typeof` of anything else.
 */
export function describeJsValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a Date';
  if (value instanceof Uint8Array) return 'a Uint8Array';
  if (typeof value === 'object') return lossyKind(value) ?? 'an object';
  return `a ${typeof value}`;
}

/**
 * Name the built-in objects whose contents are not own enumerable
 * properties, which `dom.Value.from` turns into an empty or index-keyed
 * struct. They are rejected instead of losing data.
 */
function lossyKind(value: object): string | undefined {
  if (value instanceof Map) return 'a Map';
  if (value instanceof Set) return 'a Set';
  if (value instanceof WeakMap) return 'a WeakMap';
  if (value instanceof WeakSet) return 'a WeakSet';
  if (value instanceof RegExp) return 'a RegExp';
  if (value instanceof Promise) return 'a Promise';
  if (value instanceof ArrayBuffer) return 'an ArrayBuffer';
  if (ArrayBuffer.isView(value) && !(value instanceof Uint8Array)) {
    return `a ${value.constructor.name}`;
  }
  return undefined;
}

/**
 * Write a JavaScript value as Ion, typed as `dom.Value.from` types it.
 * Integers (including -0) and bigints become ints, other numbers floats,
 * dates millisecond timestamps at offset +00:00, and byte arrays blobs.
 * Arrays become lists, dom values are written as they are, and other
 * objects become structs of their own enumerable string-keyed properties.
 */
export function writeJsValue(writer: IonValueWriter, value: unknown, path = '', depth = 0): void {
  switch (typeof value) {
    case 'string':
      writer.string(value);
      return;
    case 'number':
      writeNumber(writer, value);
      return;
    case 'boolean':
      writer.bool(value);
      return;
    case 'bigint':
      writer.int(value);
      return;
    case 'undefined':
      throw new JsValueError(
        path,
        'is undefined, which has no Ion type: use null or leave the field out',
      );
    case 'object':
      break;
    default:
      throw new JsValueError(
        path,
        `is a ${typeof value}, which has no Ion type: convert it or leave the field out`,
      );
  }
  if (value === null) {
    writer.null();
    return;
  }
  if (depth >= MAX_JS_VALUE_DEPTH) {
    throw new JsValueError(
      path,
      `is nested more than ${MAX_JS_VALUE_DEPTH} lists and structs deep; an object that contains itself has no Ion form`,
    );
  }
  if (value instanceof dom.Value) writeDomValue(writer, value as dom.Value);
  else if (Array.isArray(value)) {
    writer.stepIn('list');
    // Indexes, not forEach, so that a hole is rejected like undefined instead of skipped.
    for (let i = 0; i < value.length; i++) {
      writeJsValue(writer, value[i], `${path}[${i}]`, depth + 1);
    }
    writer.stepOut();
  } else if (value instanceof Uint8Array) writer.blob(value);
  else if (value instanceof Date) {
    if (Number.isNaN(value.getTime()))
      throw new JsValueError(path, 'is an invalid Date (its time is NaN): pass a valid Date');
    writer.timestamp(value);
  } else if (value instanceof Timestamp) writer.timestamp(value);
  else if (value instanceof Decimal) writer.decimal(value);
  else if (value instanceof Number) writeNumber(writer, value.valueOf());
  else if (value instanceof String) writer.string(value.valueOf());
  else if (value instanceof Boolean) writer.bool(value.valueOf());
  else if (value instanceof BigInt) writer.int(value.valueOf() as bigint);
  else {
    const lossy = lossyKind(value);
    if (lossy !== undefined) {
      throw new JsValueError(
        path,
        `is ${lossy}, which has no Ion type: convert it to a plain object, an array or a Uint8Array`,
      );
    }
    writer.stepIn('struct');
    for (const [name, field] of Object.entries(value)) {
      writer.fieldName(name);
      writeJsValue(writer, field, path === '' ? name : `${path}.${name}`, depth + 1);
    }
    writer.stepOut();
  }
}

function writeNumber(writer: IonValueWriter, value: number): void {
  if (!Number.isInteger(value)) writer.float(value);
  else if (Number.isSafeInteger(value)) writer.int(value === 0 ? 0 : value);
  else writer.int(BigInt(value));
}
