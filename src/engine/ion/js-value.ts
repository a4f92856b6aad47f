// Plain JavaScript values written as Ion, with the types `dom.Value.from`
// gives them, so that a caller can pass a document without building an
// ion-js dom value first.
import { Decimal, Timestamp, dom } from 'ion-js';

import type { IonValueWriter } from './ion-value-writer.js';
import { writeDomValue } from './ion-value-writer.js';

/** A document given as a plain object: field names to JavaScript values. */
export type DocumentObject = { readonly [field: string]: unknown };

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
 * Return true for a value that `dom.Value.from` makes a struct of: an object that
 * is not an array, a byte array, a date, a boxed primitive, an ion-js
 * Decimal or Timestamp, or a dom value.
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
    !(value instanceof BigInt)
  );
}

/**
 * Write a JavaScript value as Ion, typed as `dom.Value.from` types it.
 * Integers (including -0) and bigints become ints, other numbers floats,
 * dates millisecond timestamps at offset +00:00, and byte arrays blobs.
 * Arrays become lists, dom values are written as they are, and other
 * objects become structs of their own enumerable string-keyed properties.
 */
export function writeJsValue(writer: IonValueWriter, value: unknown, path = ''): void {
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
  if (value === null) writer.null();
  else if (value instanceof dom.Value) writeDomValue(writer, value as dom.Value);
  else if (Array.isArray(value)) {
    writer.stepIn('list');
    value.forEach((element, i) => writeJsValue(writer, element, `${path}[${i}]`));
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
    writer.stepIn('struct');
    for (const [name, field] of Object.entries(value)) {
      writer.fieldName(name);
      writeJsValue(writer, field, path === '' ? name : `${path}.${name}`);
    }
    writer.stepOut();
  }
}

function writeNumber(writer: IonValueWriter, value: number): void {
  if (!Number.isInteger(value)) writer.float(value);
  else if (Number.isSafeInteger(value)) writer.int(value === 0 ? 0 : value);
  else writer.int(BigInt(value));
}
