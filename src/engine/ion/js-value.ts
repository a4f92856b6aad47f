// Plain JavaScript values written as Ion, with the types `dom.Value.from`
// gives them, so that a caller can pass a document without building an
// ion-js dom value first.
import { Decimal, Timestamp, dom } from 'ion-js';

import type { IonValueWriter } from './ion-value-writer.js';
import { writeDomValue } from './ion-value-writer.js';

/**
 * A document given as a plain object: field names to JavaScript values.
 * Any object type is accepted here, so that interfaces pass. Anything that
 * is not a plain object is rejected when the document is written.
 */
export type DocumentObject = object;

/**
 * Maximum nesting of lists and structs in a plain object. It stops a value
 * that contains itself with a clear error, well before the call stack ends.
 */
export const MAX_JS_VALUE_DEPTH = 1000;

/** Maximum length of a field path in an error message. A longer path is cut at its start. */
const MAX_PATH_IN_MESSAGE = 200;

/** Error for a JavaScript value with no Ion form. `path` names where the value is. */
export class JsValueError extends TypeError {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    const shortPath =
      path.length > MAX_PATH_IN_MESSAGE ? `…${path.slice(-MAX_PATH_IN_MESSAGE)}` : path;
    super(`${path === '' ? 'The value' : `The value at ${shortPath}`} ${detail}`);
    this.name = 'JsValueError';
  }
}

/** Error for a plain-object document with more values than `maxValues`, stopped before it is all written. */
export class JsValueLimitError extends RangeError {
  constructor(readonly maxValues: number) {
    super(`The document has more than ${maxValues} values`);
    this.name = 'JsValueLimitError';
  }
}

/** Return true for an object that is written as a struct: one whose prototype is `Object.prototype` or null. */
export function isDocumentObject(value: unknown): value is DocumentObject {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/** Name the kind of a value for messages: `an array`, `a Date`, `a Map`, `null`, `a string`. */
export function describeJsValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value !== 'object') return `a ${typeof value}`;
  if (isDocumentObject(value)) return 'an object';
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  if (typeof name !== 'string' || name === '') return 'an object with a prototype';
  // "an Error", "an Int16Array", but "a URL" and "a Uint8Array", as they are read.
  return /^[AEIO]/.test(name) ? `an ${name}` : `a ${name}`;
}

/** Receives each top-level field of a document as the walk reads it. */
export type FieldObserver = (name: string, value: unknown) => void;

/**
 * Write a plain-object document as an Ion struct, passing each top-level
 * field to `observe` as it is read, so that a caller can use the very values
 * that were written. Raises `JsValueLimitError` past `maxValues` values.
 */
export function writeJsDocument(
  writer: IonValueWriter,
  document: object,
  observe?: FieldObserver,
  maxValues = Number.POSITIVE_INFINITY,
): void {
  if (!isDocumentObject(document)) {
    throw new JsValueError('', `is ${describeJsValue(document)}, not a plain object`);
  }
  const walk = new JsWalk(writer, maxValues);
  writer.stepIn('struct');
  for (const [name, field] of Object.entries(document)) {
    walk.fieldName(name, undefined);
    observe?.(name, field);
    walk.value(field, undefined, name, 1);
  }
  writer.stepOut();
}

/**
 * Write a JavaScript value as Ion, typed as `dom.Value.from` types it.
 * Integers (including -0) and bigints become ints, other numbers floats,
 * dates millisecond timestamps at offset +00:00, and byte arrays blobs.
 * Arrays become lists, dom values are written as they are, and plain
 * objects become structs of their own enumerable string-keyed properties.
 * Other objects are rejected: a Map, a class instance or a value from
 * another copy of ion-js would lose data as a struct of its properties.
 */
export function writeJsValue(writer: IonValueWriter, value: unknown): void {
  new JsWalk(writer, Number.POSITIVE_INFINITY).value(value, undefined, undefined, 0);
}

/**
 * The position of a container in the walk: its parent's position and its
 * key there. Path text is built from it only for an error.
 */
interface Place {
  parent: Place | undefined;
  key: string | number | undefined;
}

/** Return the path of the value at `key` in the container at `parent`, such as `a.b[2]` or `a["odd name"]`. */
function pathText(parent: Place | undefined, key: string | number | undefined): string {
  const keys: Array<string | number> = [];
  if (key !== undefined) keys.push(key);
  for (let place = parent; place !== undefined; place = place.parent) {
    if (place.key !== undefined) keys.push(place.key);
  }
  let path = '';
  for (const part of keys.reverse()) {
    if (typeof part === 'number') path += `[${part}]`;
    else if (!IDENTIFIER.test(part)) path += `[${JSON.stringify(part)}]`;
    else path += path === '' ? part : `.${part}`;
  }
  return path;
}

class JsWalk {
  #remaining: number;

  constructor(
    readonly writer: IonValueWriter,
    readonly maxValues: number,
  ) {
    this.#remaining = maxValues;
  }

  fieldName(name: string, parent: Place | undefined): void {
    try {
      this.writer.fieldName(name);
    } catch (error) {
      throw leafError(error, pathText(parent, name), 'has an invalid field name');
    }
  }

  value(
    value: unknown,
    parent: Place | undefined,
    key: string | number | undefined,
    depth: number,
  ): void {
    if (--this.#remaining < 0) throw new JsValueLimitError(this.maxValues);
    const writer = this.writer;
    switch (typeof value) {
      case 'string':
        try {
          writer.string(value);
        } catch (error) {
          throw leafError(error, pathText(parent, key), 'is an invalid string');
        }
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
          pathText(parent, key),
          'is undefined, which has no Ion type: use null or leave the field out',
        );
      case 'object':
        break;
      default:
        throw new JsValueError(
          pathText(parent, key),
          `is a ${typeof value}, which has no Ion type: convert it or leave the field out`,
        );
    }
    if (value === null) {
      writer.null();
      return;
    }
    if (depth >= MAX_JS_VALUE_DEPTH) {
      throw new JsValueError(
        pathText(parent, key),
        `is nested more than ${MAX_JS_VALUE_DEPTH} lists and structs deep; an object that contains itself has no Ion form`,
      );
    }
    if (value instanceof dom.Value) writeDomValue(writer, value as dom.Value);
    else if (Array.isArray(value)) {
      writer.stepIn('list');
      const place: Place = { parent, key };
      // Indexes, not forEach, so that a hole is rejected like undefined instead of skipped.
      for (let i = 0; i < value.length; i++) this.value(value[i], place, i, depth + 1);
      writer.stepOut();
    } else if (value instanceof Uint8Array) writer.blob(value);
    else if (value instanceof Date) {
      if (Number.isNaN(value.getTime())) {
        throw new JsValueError(
          pathText(parent, key),
          'is an invalid Date (its time is NaN): pass a valid Date',
        );
      }
      try {
        writer.timestamp(value);
      } catch (error) {
        throw leafError(error, pathText(parent, key), 'is a Date that Ion cannot hold');
      }
    } else if (value instanceof Timestamp) writer.timestamp(value);
    else if (value instanceof Decimal) writer.decimal(value);
    // A plain boolean, not the type guard, keeps the type of `value` for the
    // branches below, which a plain object never reaches.
    else if (isDocumentObject(value) as boolean) {
      writer.stepIn('struct');
      const place: Place = { parent, key };
      for (const [name, field] of Object.entries(value as DocumentObject)) {
        this.fieldName(name, place);
        this.value(field, place, name, depth + 1);
      }
      writer.stepOut();
    }
    // Before the boxed primitives: ion-js numbers and strings extend Number
    // and String, so a value of another ion-js copy would lose its Ion type.
    else if (isForeignIonValue(value)) {
      throw new JsValueError(pathText(parent, key), `${FOREIGN_ION_VALUE}, or pass plain values`);
    } else if (value instanceof Number) writeNumber(writer, value.valueOf());
    else if (value instanceof String) writer.string(value.valueOf());
    else if (value instanceof Boolean) writer.bool(value.valueOf());
    else if (value instanceof BigInt) writer.int(value.valueOf() as bigint);
    else {
      throw new JsValueError(
        pathText(parent, key),
        `is ${describeJsValue(value)}, not a plain object, so its properties may not be its data: convert it to a plain object, an array or a Uint8Array`,
      );
    }
  }
}

/** The reason a value of another copy of ion-js is refused, with the fix. */
export const FOREIGN_ION_VALUE =
  "is an ion-js value from another copy of ion-js than the engine uses: build Ion values with the engine's own, `import { ion } from 'vellum'`";

/** True for an ion-js value that another copy of ion-js made, which `instanceof` does not see. */
export function isForeignIonValue(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || value instanceof dom.Value) return false;
  if (value instanceof Decimal || value instanceof Timestamp) return false;
  const methods = value as Record<string, unknown>;
  const has = (name: string) => typeof methods[name] === 'function';
  // A dom value, or the Decimal or Timestamp class of the other copy.
  return (
    (has('getType') && has('getAnnotations')) ||
    (has('getCoefficient') && has('getExponent')) ||
    (has('getPrecision') && has('getLocalOffset'))
  );
}

/** Wrap a writer's RangeError about a value in a `JsValueError` that names its path. */
function leafError(error: unknown, path: string, problem: string): unknown {
  if (!(error instanceof RangeError)) return error;
  return new JsValueError(path, `${problem}: ${error.message}`);
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function writeNumber(writer: IonValueWriter, value: number): void {
  if (!Number.isInteger(value)) writer.float(value);
  else if (Number.isSafeInteger(value)) writer.int(value === 0 ? 0 : value);
  else writer.int(BigInt(value));
}
