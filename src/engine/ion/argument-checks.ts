// Boundary checks for the public Ion functions: TypeError for a wrong type, RangeError for a
// value of the right type outside the accepted range. Messages name what was expected and received.
import { Decimal, Timestamp, dom } from 'ion-js';

import { checkDate } from './timestamp-representation.js';
import { NULL_TYPE_CODES } from './ion-value-writer.js';
import type { ContainerType, IonTypeName } from './ion-value-writer.js';

/** Names the type of a rejected argument for an error message. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return (value.constructor as { name?: string } | undefined)?.name ?? 'object';
}

export function checkDomValue(value: unknown, name: string): asserts value is dom.Value {
  if (!(value instanceof dom.Value)) {
    throw new TypeError(
      `Invalid ${name}: expected an ion-js dom.Value, received ${describeType(value)}`,
    );
  }
}

export function checkString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') {
    throw new TypeError(`Invalid ${name}: expected a string, received ${describeType(value)}`);
  }
}

export function checkStrings(values: unknown, name: string): asserts values is readonly string[] {
  if (!Array.isArray(values)) {
    throw new TypeError(
      `Invalid ${name}: expected an array of strings, received ${describeType(values)}`,
    );
  }
  for (let index = 0; index < values.length; index++)
    checkString(values[index], `${name}[${index}]`);
}

export function checkBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') {
    throw new TypeError(`Invalid ${name}: expected a boolean, received ${describeType(value)}`);
  }
}

export function checkNumber(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') {
    throw new TypeError(`Invalid ${name}: expected a number, received ${describeType(value)}`);
  }
}

/** Accepts a bigint or a number that is an integer (not necessarily a safe one). */
export function checkInteger(value: unknown, name: string): asserts value is number | bigint {
  if (typeof value === 'bigint') return;
  checkNumber(value, name);
  if (!Number.isInteger(value)) {
    throw new RangeError(`Invalid ${name}: expected an integer, received ${value}`);
  }
}

export function checkDecimal(value: unknown, name: string): asserts value is Decimal {
  if (!(value instanceof Decimal)) {
    throw new TypeError(
      `Invalid ${name}: expected an ion-js Decimal, received ${describeType(value)}`,
    );
  }
}

export function checkTimestamp(value: unknown, name: string): asserts value is Timestamp | Date {
  if (value instanceof Date) {
    checkDate(value);
    return;
  }
  if (!(value instanceof Timestamp)) {
    throw new TypeError(
      `Invalid ${name}: expected an ion-js Timestamp or a Date, received ${describeType(value)}`,
    );
  }
}

export function checkBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`Invalid ${name}: expected a Uint8Array, received ${describeType(value)}`);
  }
}

export function checkContainerType(value: unknown, name: string): asserts value is ContainerType {
  if (value !== 'struct' && value !== 'list' && value !== 'sexp') {
    throw new TypeError(
      `Invalid ${name}: expected 'struct', 'list' or 'sexp', received ${JSON.stringify(value) ?? describeType(value)}`,
    );
  }
}

export function checkNullType(value: unknown, name: string): asserts value is IonTypeName {
  if (typeof value !== 'string' || !Object.hasOwn(NULL_TYPE_CODES, value)) {
    throw new TypeError(
      `Invalid ${name}: expected an Ion type name such as 'int' or 'struct', received ${JSON.stringify(value) ?? describeType(value)}`,
    );
  }
}
