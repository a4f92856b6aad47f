import { Decimal, dom, IonTypes, Timestamp } from 'ion-js';

/**
 * Values as PartiQL evaluates them: Ion values from `ion-js`, plus MISSING, the
 * absent value a path yields where a field does not exist.
 */
export const MISSING: unique symbol = Symbol('MISSING');
export type Missing = typeof MISSING;
export type Value = dom.Value | Missing;

export const TRUE = new dom.Boolean(true);
export const FALSE = new dom.Boolean(false);
export const NULL = new dom.Null();

export function bool(value: boolean | null): dom.Value {
  if (value === null) return NULL;
  return value ? TRUE : FALSE;
}

/** Return the Ion type name of a value for messages: `int`, `null.struct` for a typed null, `missing`. */
export function typeOf(value: Value): string {
  if (value === MISSING) return 'missing';
  const name = value.getType().name;
  return value.isNull() && name !== 'null' ? `null.${name}` : name;
}

/** NULL of any type, or MISSING. */
export function isAbsent(value: Value): boolean {
  return value === MISSING || value.isNull();
}

export function isNumber(value: dom.Value): boolean {
  const type = value.getType();
  return type === IonTypes.INT || type === IonTypes.DECIMAL || type === IonTypes.FLOAT;
}

export function isText(value: dom.Value): boolean {
  const type = value.getType();
  return type === IonTypes.STRING || type === IonTypes.SYMBOL;
}

export function isSequence(value: dom.Value): boolean {
  const type = value.getType();
  return type === IonTypes.LIST || type === IonTypes.SEXP;
}

export function isStruct(value: Value): boolean {
  return value !== MISSING && value.getType() === IonTypes.STRUCT && !value.isNull();
}

/**
 * Build a struct that keeps repeated field names, as Ion allows. The ion-js
 * constructor keeps only the last value of a name given twice as a pair,
 * but keeps every value given as a list under one name.
 */
export function structOf(
  fields: Iterable<readonly [string, dom.Value]>,
  annotations: string[] = [],
): dom.Value {
  const grouped = new Map<string, dom.Value[]>();
  for (const [name, value] of fields) {
    const values = grouped.get(name);
    if (values === undefined) grouped.set(name, [value]);
    else values.push(value);
  }
  return new dom.Struct(grouped as unknown as Iterable<[string, dom.Value]>, annotations);
}

/** Return every field of a struct, each value of a repeated name included. */
export function allFields(struct: dom.Value): Array<[string, dom.Value]> {
  const fields: Array<[string, dom.Value]> = [];
  for (const [name, values] of struct.allFields()) {
    for (const value of values) fields.push([name, value]);
  }
  return fields;
}

/** A number as an exact rational `coefficient * 10^exponent`, or a float. */
type Numeric =
  { exact: true; coefficient: bigint; exponent: number } | { exact: false; value: number };

function numeric(value: dom.Value): Numeric {
  const type = value.getType();
  if (type === IonTypes.INT) return { exact: true, coefficient: value.bigIntValue()!, exponent: 0 };
  if (type === IonTypes.DECIMAL) {
    const decimal = value.decimalValue()!;
    return { exact: true, coefficient: decimal.getCoefficient(), exponent: decimal.getExponent() };
  }
  return { exact: false, value: value.numberValue()! };
}

function toFloat(n: Numeric): number {
  return n.exact ? Number(n.coefficient) * 10 ** n.exponent : n.value;
}

function align(a: bigint, ae: number, b: bigint, be: number): [bigint, bigint, number] {
  if (ae === be) return [a, b, ae];
  if (ae > be) return [a * 10n ** BigInt(ae - be), b, be];
  return [a, b * 10n ** BigInt(be - ae), ae];
}

/** Return -1, 0 or 1 as `a` is less than, equal to or greater than `b`. */
function sign<T extends bigint | number | string>(a: T, b: T): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

/** Compare two numbers of any Ion numeric type by value. */
export function compareNumbers(a: dom.Value, b: dom.Value): number {
  const x = numeric(a);
  const y = numeric(b);
  if (x.exact && y.exact) {
    const [p, q] = align(x.coefficient, x.exponent, y.coefficient, y.exponent);
    return sign(p, q);
  }
  const p = toFloat(x);
  const q = toFloat(y);
  // NaN sorts before every other number and equals itself, for a total order.
  if (Number.isNaN(p) && Number.isNaN(q)) return 0;
  if (Number.isNaN(p)) return -1;
  if (Number.isNaN(q)) return 1;
  return sign(p, q);
}

function timestampMillis(value: dom.Value): number {
  return value.timestampValue()!.getDate().getTime();
}

function compareTimestamps(a: dom.Value, b: dom.Value): number {
  const x = a.timestampValue()!;
  const y = b.timestampValue()!;
  const diff = timestampMillis(a) - timestampMillis(b);
  if (diff !== 0) return diff < 0 ? -1 : 1;
  // Same millisecond: compare the fractional seconds beyond it.
  const fx = x.getSecondsDecimal();
  const fy = y.getSecondsDecimal();
  return compareNumbers(new dom.Decimal(fx), new dom.Decimal(fy));
}

/**
 * Compare two values of comparable types: numbers with numbers, text with
 * text, timestamps, booleans and lobs. Returns undefined when the types
 * cannot be compared, so `<` and the other comparisons give NULL.
 */
export function compareValues(a: dom.Value, b: dom.Value): number | undefined {
  if (isNumber(a) && isNumber(b)) return compareNumbers(a, b);
  if (isText(a) && isText(b)) {
    const x = a.stringValue()!;
    const y = b.stringValue()!;
    return sign(x, y);
  }
  const type = a.getType();
  if (type !== b.getType()) return undefined;
  if (type === IonTypes.TIMESTAMP) return compareTimestamps(a, b);
  if (type === IonTypes.BOOL) return Number(a.booleanValue()) - Number(b.booleanValue());
  if (type === IonTypes.BLOB || type === IonTypes.CLOB) {
    return Buffer.compare(Buffer.from(a.uInt8ArrayValue()!), Buffer.from(b.uInt8ArrayValue()!));
  }
  return undefined;
}

/**
 * PartiQL equality of two non-absent values: numbers by value across types,
 * text by characters, timestamps by instant, containers element by element.
 */
export function valuesEqual(a: dom.Value, b: dom.Value): boolean {
  if (a.isNull() || b.isNull()) return a.isNull() && b.isNull();
  if (isNumber(a) && isNumber(b)) return compareNumbers(a, b) === 0;
  if (isText(a) && isText(b)) return a.stringValue() === b.stringValue();
  const type = a.getType();
  if (type !== b.getType()) return false;
  switch (type) {
    case IonTypes.TIMESTAMP:
      return compareTimestamps(a, b) === 0;
    case IonTypes.BOOL:
      return a.booleanValue() === b.booleanValue();
    case IonTypes.BLOB:
    case IonTypes.CLOB:
      return Buffer.from(a.uInt8ArrayValue()!).equals(Buffer.from(b.uInt8ArrayValue()!));
    case IonTypes.LIST:
    case IonTypes.SEXP: {
      const x = a.elements();
      const y = b.elements();
      return x.length === y.length && x.every((item, i) => valuesEqual(item, y[i]!));
    }
    case IonTypes.STRUCT: {
      const x = a.fields();
      const y = b.fields();
      if (x.length !== y.length) return false;
      const remaining = [...y];
      for (const [name, item] of x) {
        const at = remaining.findIndex(([other, v]) => other === name && valuesEqual(item, v));
        if (at < 0) return false;
        remaining.splice(at, 1);
      }
      return true;
    }
    default:
      return false;
  }
}

/** Rank of each type in PartiQL's total order, used by ORDER BY and MIN/MAX across types. */
function typeRank(value: Value): number {
  if (value === MISSING || value.isNull()) return 0;
  if (value.getType() === IonTypes.BOOL) return 1;
  if (isNumber(value)) return 2;
  if (value.getType() === IonTypes.TIMESTAMP) return 3;
  if (isText(value)) return 4;
  if (value.getType() === IonTypes.CLOB || value.getType() === IonTypes.BLOB) return 5;
  if (value.getType() === IonTypes.LIST) return 6;
  if (value.getType() === IonTypes.SEXP) return 7;
  if (value.getType() === IonTypes.STRUCT) return 8;
  return 9;
}

/** Order any two values for ORDER BY: absent first, then by type, then by value. */
export function orderValues(a: Value, b: Value): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return 0;
  const x = a as dom.Value;
  const y = b as dom.Value;
  const compared = compareValues(x, y);
  if (compared !== undefined) return compared;
  if (ra === 6 || ra === 7) {
    const xs = x.elements();
    const ys = y.elements();
    for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
      const c = orderValues(xs[i]!, ys[i]!);
      if (c !== 0) return c;
    }
    return xs.length - ys.length;
  }
  return 0;
}

// Arithmetic.

function fromNumeric(n: Numeric, preferDecimal: boolean): dom.Value {
  if (!n.exact) return new dom.Float(n.value);
  if (n.exponent === 0 && !preferDecimal) return integer(n.coefficient);
  return exactDecimal(n.coefficient, n.exponent);
}

/**
 * Build the decimal `coefficient × 10^exponent`. ion-js takes the sign of a
 * bigint coefficient from a separate argument and drops the coefficient's own.
 */
export function exactDecimal(coefficient: bigint, exponent: number): dom.Value {
  const negative = coefficient < 0n;
  return new dom.Decimal(new Decimal(negative ? -coefficient : coefficient, exponent, negative));
}

export function integer(value: bigint | number): dom.Value {
  const big = BigInt(value);
  const small = Number(big);
  return new dom.Integer(Number.isSafeInteger(small) ? small : big);
}

export function float(value: number): dom.Value {
  return new dom.Float(value);
}

export function decimalOf(value: number | string): dom.Value {
  // JavaScript writes large and small numbers with an exponent (1e+21,
  // 1.5e-7); Ion decimal text writes it after a `d`.
  return new dom.Decimal(Decimal.parse(String(value).replace(/e\+?/i, 'd'))!);
}

/** `+ - * / %` over Ion numbers; int with int stays int, any decimal gives a decimal, any float a float. */
export function arithmetic(op: string, a: dom.Value, b: dom.Value): dom.Value {
  const x = numeric(a);
  const y = numeric(b);
  const decimal = a.getType() === IonTypes.DECIMAL || b.getType() === IonTypes.DECIMAL;
  if (x.exact && y.exact) {
    const [p, q, exponent] = align(x.coefficient, x.exponent, y.coefficient, y.exponent);
    switch (op) {
      case '+':
        return fromNumeric({ exact: true, coefficient: p + q, exponent }, decimal);
      case '-':
        return fromNumeric({ exact: true, coefficient: p - q, exponent }, decimal);
      case '*':
        return fromNumeric(
          {
            exact: true,
            coefficient: x.coefficient * y.coefficient,
            exponent: x.exponent + y.exponent,
          },
          decimal,
        );
      case '/':
      case '%': {
        if (q === 0n) throw new RangeError('Division by zero');
        if (!decimal) return integer(op === '/' ? p / q : p % q);
        if (op === '%') return fromNumeric({ exact: true, coefficient: p % q, exponent }, true);
        return divideDecimal(p, q);
      }
    }
  }
  const p = toFloat(x);
  const q = toFloat(y);
  switch (op) {
    case '+':
      return float(p + q);
    case '-':
      return float(p - q);
    case '*':
      return float(p * q);
    case '/':
      return float(p / q);
    default:
      return float(p % q);
  }
}

/**
 * Divide two decimal coefficients of one exponent, keeping 34 significant
 * digits rounded half to even, as IEEE decimal128 (Java's DECIMAL128) does.
 */
function divideDecimal(p: bigint, q: bigint): dom.Value {
  const negative = p < 0n !== q < 0n;
  const a = p < 0n ? -p : p;
  const b = q < 0n ? -q : q;
  const digits = (n: bigint) => n.toString().length;

  // Scale the dividend so that the quotient has at least 35 digits.
  const shift = 36 - (digits(a) - digits(b));
  const dividend = shift >= 0 ? a * 10n ** BigInt(shift) : a;
  const divisor = shift >= 0 ? b : b * 10n ** BigInt(-shift);
  let quotient = dividend / divisor;
  const inexact = dividend % divisor !== 0n;
  let exponent = -shift;

  const excess = digits(quotient) - 34;
  if (excess > 0) {
    const unit = 10n ** BigInt(excess);
    const dropped = quotient % unit;
    quotient /= unit;
    exponent += excess;
    const half = unit / 2n;
    if (dropped > half || (dropped === half && (inexact || quotient % 2n === 1n))) quotient++;
    // Rounding 99...9 up gives one digit more.
    if (digits(quotient) > 34) {
      quotient /= 10n;
      exponent++;
    }
  }

  // Drop the trailing zeros the scaling added, so 7 / 2 is 3.5 and 6 / 2 is 3.
  while (exponent < 0 && quotient !== 0n && quotient % 10n === 0n) {
    quotient /= 10n;
    exponent++;
  }
  if (quotient === 0n) exponent = 0;
  return exactDecimal(negative ? -quotient : quotient, exponent);
}

export function negate(value: dom.Value): dom.Value {
  return arithmetic('-', integer(0), value);
}

/** Convert a numeric value to a JavaScript number, for sizes, offsets and date parts. */
export function toNumber(value: dom.Value): number {
  return toFloat(numeric(value));
}

export function timestampOf(date: Date, precisionMillis = true): dom.Value {
  const iso = date.toISOString();
  return new dom.Timestamp(Timestamp.parse(precisionMillis ? iso : iso.replace(/\.\d{3}Z$/, 'Z'))!);
}

/** Build a stable text key of a value, for DISTINCT and grouping. */
export function valueKey(value: Value): string {
  if (value === MISSING) return 'missing';
  if (value.isNull()) return 'null';
  if (isNumber(value)) {
    const n = numeric(value);
    if (!n.exact) return `n:${n.value}`;
    let { coefficient, exponent } = n;
    while (coefficient !== 0n && coefficient % 10n === 0n) {
      coefficient /= 10n;
      exponent++;
    }
    return `n:${coefficient}e${coefficient === 0n ? 0 : exponent}`;
  }
  if (isText(value)) return `s:${JSON.stringify(value.stringValue())}`;
  switch (value.getType()) {
    case IonTypes.TIMESTAMP:
      return `t:${timestampMillis(value)}:${value.timestampValue()!.getSecondsDecimal().toString()}`;
    case IonTypes.LIST:
    case IonTypes.SEXP:
      return `[${value.elements().map(valueKey).join(',')}]`;
    case IonTypes.STRUCT:
      return `{${value
        .fields()
        .map(([name, item]) => `${JSON.stringify(name)}:${valueKey(item)}`)
        .sort()
        .join(',')}}`;
    case IonTypes.BLOB:
    case IonTypes.CLOB:
      return `b:${Buffer.from(value.uInt8ArrayValue()!).toString('base64')}`;
    default:
      return `${value.getType().name}:${String(value.booleanValue())}`;
  }
}

/**
 * Format a float as QLDB's CAST does, which documents CAST(`1e0` AS string)
 * as "1.0": the form of Java's `Double.toString`. That is the shortest
 * digits that read back as the same float, written plain from 0.001 up to
 * 10^7 with at least one digit after the point (`1.0`, `1234567.0`), and
 * otherwise with an exponent after `E` (`1.0E7`, `1.0E-4`).
 */
export function floatText(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const sign = n < 0 ? '-' : '';
  const magnitude = Math.abs(n);
  let [mantissa, exponentText] = magnitude.toExponential().split('e') as [string, string];
  // Java writes at least two digits, so where one digit is the shortest it
  // takes the two-digit decimal nearest the float when that reads back the
  // same: 5e-324 is written 4.9E-324.
  if (!mantissa.includes('.')) {
    const twoDigits = magnitude.toExponential(1);
    if (Number(twoDigits) === magnitude) {
      [mantissa, exponentText] = twoDigits.split('e') as [string, string];
    }
  }
  const digits = mantissa.replace('.', '').replace(/(?<=.)0+$/, '');
  const exponent = Number(exponentText);
  if (magnitude >= 1e-3 && magnitude < 1e7) {
    if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
    const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
    return `${sign}${whole}.${digits.slice(exponent + 1) || '0'}`;
  }
  return `${sign}${digits[0]}.${digits.slice(1) || '0'}E${exponent}`;
}

/** Maximum number of characters of a string or number that an error message quotes. */
const DESCRIBED_LENGTH = 64;

/**
 * Describe a value for an error message: its type, then its value where it
 * is a scalar, as in `string '2010T'`, `int 5`, `bool true`, `null.int`,
 * `struct` and `missing`. A string or number longer than 64 characters is
 * cut, and the message gives its length.
 */
export function describeValue(value: Value): string {
  const scalar = scalarText(value);
  if (scalar === undefined) return typeOf(value);
  const characters = [...scalar];
  const cut = characters.length > DESCRIBED_LENGTH;
  const excerpt = cut ? characters.slice(0, DESCRIBED_LENGTH).join('') : scalar;
  const quoted = isText(value as dom.Value) ? `'${excerpt}'` : excerpt;
  return `${typeOf(value)} ${quoted}${cut ? `... (${characters.length} characters)` : ''}`;
}

function scalarText(value: Value): string | undefined {
  if (value === MISSING || value.isNull()) return undefined;
  switch (value.getType()) {
    case IonTypes.STRING:
    case IonTypes.SYMBOL:
      return value.stringValue()!;
    case IonTypes.FLOAT:
      return floatText(value.numberValue()!);
    case IonTypes.INT:
      return value.bigIntValue()!.toString();
    case IonTypes.DECIMAL:
      return value.decimalValue()!.toString();
    case IonTypes.BOOL:
      return String(value.booleanValue());
    case IonTypes.TIMESTAMP:
      return value.timestampValue()!.toString();
    default:
      return undefined;
  }
}
