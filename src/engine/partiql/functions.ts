import { Decimal, dom, IonTypes, Timestamp, TimestampPrecision, type IonType } from 'ion-js';
import { PartiqlSemanticError } from './errors.js';
import type { Position } from './lexer.js';
import {
  FALSE,
  MISSING,
  NULL,
  TRUE,
  decimalOf,
  describeValue,
  exactDecimal,
  float,
  floatText,
  integer,
  isAbsent,
  isNumber,
  isText,
  toNumber,
  typeOf,
  valuesEqual,
  type Value,
} from './values.js';

/** Scalar functions of QLDB's PartiQL, by upper-case name. Arguments arrive evaluated. */
type ScalarFunction = (args: Value[], at: Position) => Value;

export const AGGREGATES = new Set(['COUNT', 'SUM', 'MIN', 'MAX', 'AVG']);

function fail(at: Position, message: string): never {
  throw new PartiqlSemanticError(message, at);
}

function arity(name: string, args: Value[], min: number, max: number, at: Position): void {
  if (args.length < min || args.length > max) {
    const expected = min === max ? `${min}` : `${min} to ${max}`;
    const noun = max === 1 ? 'argument' : 'arguments';
    fail(at, `${name} takes ${expected} ${noun}, got ${args.length}`);
  }
}

function text(name: string, value: dom.Value, at: Position): string {
  if (!isText(value)) fail(at, `${name} expects a string, got ${describeValue(value)}`);
  return value.stringValue()!;
}

function int(name: string, value: dom.Value, at: Position): number {
  if (!isNumber(value)) fail(at, `${name} expects a number, got ${describeValue(value)}`);
  return Math.trunc(toNumber(value));
}

function timestamp(name: string, value: dom.Value, at: Position): Timestamp {
  if (value.getType() !== IonTypes.TIMESTAMP) {
    fail(at, `${name} expects a timestamp, got ${describeValue(value)}`);
  }
  return value.timestampValue()!;
}

/** NULL in gives NULL out, MISSING in gives MISSING out, for functions that propagate absence. */
function propagate(args: Value[]): Value | undefined {
  if (args.some((arg) => arg === MISSING)) return MISSING;
  if (args.some((arg) => arg !== MISSING && arg.isNull())) return NULL;
  return undefined;
}

/** The type names `IS <type>` takes, with the Ion type of each. */
export const IS_TYPES: Record<string, IonType> = {
  BOOL: IonTypes.BOOL,
  BOOLEAN: IonTypes.BOOL,
  INT: IonTypes.INT,
  INTEGER: IonTypes.INT,
  FLOAT: IonTypes.FLOAT,
  DECIMAL: IonTypes.DECIMAL,
  TIMESTAMP: IonTypes.TIMESTAMP,
  SYMBOL: IonTypes.SYMBOL,
  STRING: IonTypes.STRING,
  VARCHAR: IonTypes.STRING,
  BLOB: IonTypes.BLOB,
  CLOB: IonTypes.CLOB,
  LIST: IonTypes.LIST,
  SEXP: IonTypes.SEXP,
  STRUCT: IonTypes.STRUCT,
};

const DATE_PARTS = ['year', 'month', 'day', 'hour', 'minute', 'second'] as const;
type DatePart = (typeof DATE_PARTS)[number];

function datePart<Part extends string>(
  name: string,
  value: Value,
  at: Position,
  parts: readonly Part[],
): Part {
  const part = value !== MISSING && isText(value) ? value.stringValue()!.toLowerCase() : '';
  if (!(parts as readonly string[]).includes(part)) {
    fail(at, `${name} expects a date part (${parts.join(', ')}), got ${part || typeOf(value)}`);
  }
  return part as Part;
}

/** The parts EXTRACT reads: the date parts and the two parts of the offset. */
const EXTRACT_PARTS = [...DATE_PARTS, 'timezone_hour', 'timezone_minute'] as const;

function fields(ts: Timestamp): number[] {
  const date = ts.getDate();
  // Work in the timestamp's own offset, as its text shows it.
  const local = new Date(date.getTime() + ts.getLocalOffset() * 60_000);
  return [
    local.getUTCFullYear(),
    local.getUTCMonth() + 1,
    local.getUTCDate(),
    local.getUTCHours(),
    local.getUTCMinutes(),
    local.getUTCSeconds(),
  ];
}

/** The precision a timestamp needs to show a change of `part`. */
const PART_PRECISION: Record<DatePart, TimestampPrecision> = {
  year: TimestampPrecision.YEAR,
  month: TimestampPrecision.MONTH,
  day: TimestampPrecision.DAY,
  hour: TimestampPrecision.HOUR_AND_MINUTE,
  minute: TimestampPrecision.HOUR_AND_MINUTE,
  second: TimestampPrecision.SECONDS,
};

/**
 * Build a timestamp for `date` with the original offset and precision,
 * widened to `atLeast`: adding a month to `2010T` gives `2010-02T`, and
 * adding an hour gives `2010-01-01T01:00Z`. `date` is in whole seconds, and
 * the original's fraction of a second is kept at its full precision.
 */
function timestampFrom(ts: Timestamp, date: Date, atLeast: TimestampPrecision): dom.Value {
  const precision = Math.max(ts.getPrecision(), atLeast);
  // A date has no offset, and QLDB reads it as midnight UTC: one that gains
  // a time gets offset Z, as in DATE_ADD(hour, 1, `2017T`) = 2017-01-01T01:00Z.
  const gainsTime =
    ts.getPrecision() < TimestampPrecision.HOUR_AND_MINUTE &&
    precision >= TimestampPrecision.HOUR_AND_MINUTE;
  const offset = gainsTime ? 0 : ts.getLocalOffset();
  const local = new Date(date.getTime() + offset * 60_000);
  const parts: number[] = [local.getUTCFullYear()];
  if (precision >= TimestampPrecision.MONTH) parts.push(local.getUTCMonth() + 1);
  if (precision >= TimestampPrecision.DAY) parts.push(local.getUTCDate());
  if (precision >= TimestampPrecision.HOUR_AND_MINUTE) {
    parts.push(local.getUTCHours(), local.getUTCMinutes());
  }
  if (precision < TimestampPrecision.SECONDS) {
    return new dom.Timestamp(new Timestamp(offset, ...(parts as [number])));
  }
  const whole = BigInt(local.getUTCSeconds());
  let seconds = new Decimal(whole, 0);
  if (ts.getPrecision() >= TimestampPrecision.SECONDS) {
    const original = ts.getSecondsDecimal();
    const exponent = original.getExponent();
    if (exponent < 0) {
      const unit = 10n ** BigInt(-exponent);
      seconds = new Decimal(whole * unit + (original.getCoefficient() % unit), exponent);
    }
  }
  const [year, month, day, hour, minute] = parts as [number, number, number, number, number];
  return new dom.Timestamp(new Timestamp(offset, year, month, day, hour, minute, seconds));
}

const PART_MILLIS: Partial<Record<DatePart, number>> = {
  day: 86_400_000,
  hour: 3_600_000,
  minute: 60_000,
  second: 1000,
};

/**
 * Add whole units to a timestamp, in its own offset's calendar. Months and
 * years keep the day of the month where the new month has it, and take the
 * month's last day otherwise: a month after January 31 is February 28 or 29.
 * Returns the instant in whole seconds.
 */
function addToTimestamp(ts: Timestamp, part: DatePart, amount: number): Date {
  const offsetMs = ts.getLocalOffset() * 60_000;
  // getDate() rounds the fraction of a second to milliseconds, up to a
  // whole second; take off the same rounded fraction.
  let millis = ts.getDate().getTime();
  if (ts.getPrecision() >= TimestampPrecision.SECONDS) {
    millis -= Math.round((ts.getSecondsDecimal().numberValue() - ts.getSecondsInt()) * 1000);
  }
  const local = new Date(millis + offsetMs);
  const step = PART_MILLIS[part];
  if (step !== undefined) {
    local.setTime(local.getTime() + amount * step);
  } else {
    const day = local.getUTCDate();
    local.setUTCDate(1);
    local.setUTCMonth(local.getUTCMonth() + (part === 'year' ? amount * 12 : amount));
    const last = new Date(local.getTime());
    last.setUTCMonth(last.getUTCMonth() + 1, 0);
    local.setUTCDate(Math.min(day, last.getUTCDate()));
  }
  return new Date(local.getTime() - offsetMs);
}

/**
 * Whole months from `from` to `to`: a month counts only once the day and time
 * in the month is reached again, so 2010-12-31 to 2011-01-01 is 0 months.
 */
function wholeMonths(from: Date, to: Date): number {
  let months =
    (to.getUTCFullYear() - from.getUTCFullYear()) * 12 + to.getUTCMonth() - from.getUTCMonth();
  const intoFrom = from.getTime() - Date.UTC(from.getUTCFullYear(), from.getUTCMonth());
  const intoTo = to.getTime() - Date.UTC(to.getUTCFullYear(), to.getUTCMonth());
  if (months > 0 && intoTo < intoFrom) months -= 1;
  if (months < 0 && intoTo > intoFrom) months += 1;
  return months;
}

function dateDiff(part: DatePart, from: Date, to: Date): number {
  const months = wholeMonths(from, to);
  switch (part) {
    case 'year':
      return Math.trunc(months / 12);
    case 'month':
      return months;
    case 'day':
      return Math.trunc((to.getTime() - from.getTime()) / 86_400_000);
    case 'hour':
      return Math.trunc((to.getTime() - from.getTime()) / 3_600_000);
    case 'minute':
      return Math.trunc((to.getTime() - from.getTime()) / 60_000);
    default:
      return Math.trunc((to.getTime() - from.getTime()) / 1000);
  }
}

// TO_STRING and TO_TIMESTAMP formats: the common subset of the patterns QLDB documents.
// A token is a run of one letter, or text in single quotes, where two
// single quotes stand for one, as in 'o''clock'.
const FORMAT_TOKEN = /([A-Za-z])\1*|'(?:[^']|'')*'/g;
const FORMAT_SYMBOLS = [
  'yyyy',
  'yy',
  'y',
  'MMMM',
  'MMM',
  'MM',
  'M',
  'dd',
  'd',
  'HH',
  'H',
  'hh',
  'h',
  'mm',
  'm',
  'ss',
  's',
  'S to SSSSSSSSS',
  'a',
  'X',
  'XX',
  'XXX',
  'XXXX',
  'XXXXX',
  'x',
  'xx',
  'xxx',
  'xxxx',
  'xxxxx',
];

/** Return the text of a quoted format token: 'T' is T, and '' is one single quote. */
function quotedText(token: string): string {
  return token === "''" ? "'" : token.slice(1, -1).replace(/''/g, "'");
}

/** Refuse a format with a letter symbol outside the supported ones, rather than print it. */
function checkFormat(name: string, pattern: string, at: Position): void {
  for (const [token] of pattern.matchAll(FORMAT_TOKEN)) {
    if (token.startsWith("'") || FORMAT_SYMBOLS.includes(token) || /^S{1,9}$/.test(token)) {
      continue;
    }
    fail(
      at,
      `${name} format symbol '${token}' is not supported; use ${FORMAT_SYMBOLS.join(', ')}, ` +
        "or put text in single quotes, such as 'T'",
    );
  }
}

/**
 * Write an offset in minutes as the `x` and `X` symbols do: `+07` or `+0730`
 * for one letter, `+0730` for two or four, `+07:30` for three or five, and
 * `Z` for zero with `X`. Four and five letters add seconds in Java's
 * patterns, which an Ion offset never has.
 */
function offsetText(offset: number, symbol: string): string {
  if (offset === 0 && symbol.startsWith('X')) return 'Z';
  const sign = offset < 0 ? '-' : '+';
  const hours = String(Math.trunc(Math.abs(offset) / 60)).padStart(2, '0');
  const minutes = String(Math.abs(offset) % 60).padStart(2, '0');
  if (symbol.length === 1)
    return minutes === '00' ? `${sign}${hours}` : `${sign}${hours}${minutes}`;
  return symbol.length % 2 === 0 ? `${sign}${hours}${minutes}` : `${sign}${hours}:${minutes}`;
}

/** Return the digits of a timestamp's fraction of a second, exactly as stored ('' for none). */
function fractionDigits(ts: Timestamp): string {
  if (ts.getPrecision() < TimestampPrecision.SECONDS) return '';
  const seconds = ts.getSecondsDecimal();
  const exponent = seconds.getExponent();
  if (exponent >= 0) return '';
  const unit = 10n ** BigInt(-exponent);
  return String(seconds.getCoefficient() % unit).padStart(-exponent, '0');
}
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

function formatTimestamp(ts: Timestamp, pattern: string): string {
  const [year, month, day, hour, minute, second] = fields(ts) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const fraction = fractionDigits(ts);
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  const offset = ts.getLocalOffset();
  return pattern.replace(FORMAT_TOKEN, (token) => {
    if (token.startsWith('S')) return fraction.padEnd(token.length, '0').slice(0, token.length);
    switch (token) {
      case 'yyyy':
        return pad(year, 4);
      case 'yy':
        return pad(year % 100, 2);
      case 'y':
        return String(year);
      case 'MMMM':
        return MONTHS[month - 1]!;
      case 'MMM':
        return MONTHS[month - 1]!.slice(0, 3);
      case 'MM':
        return pad(month, 2);
      case 'M':
        return String(month);
      case 'dd':
        return pad(day, 2);
      case 'd':
        return String(day);
      case 'HH':
        return pad(hour, 2);
      case 'H':
        return String(hour);
      case 'hh':
        return pad(hour % 12 === 0 ? 12 : hour % 12, 2);
      case 'h':
        return String(hour % 12 === 0 ? 12 : hour % 12);
      case 'mm':
        return pad(minute, 2);
      case 'm':
        return String(minute);
      case 'ss':
        return pad(second, 2);
      case 's':
        return String(second);
      case 'a':
        return hour < 12 ? 'AM' : 'PM';
      case 'X':
      case 'XX':
      case 'XXX':
      case 'x':
      case 'xx':
      case 'xxx':
      case 'XXXX':
      case 'XXXXX':
      case 'xxxx':
      case 'xxxxx':
        return offsetText(offset, token);
      default:
        return quotedText(token);
    }
  });
}

function parseTimestamp(input: string, pattern: string | undefined, at: Position): dom.Value {
  if (pattern === undefined) {
    const parsed = tryTimestamp(input);
    if (parsed === undefined) fail(at, `TO_TIMESTAMP cannot read '${input}' as an Ion timestamp`);
    return parsed;
  }
  const parts: Record<string, number> = {
    year: 1970,
    month: 1,
    day: 1,
    hour: 0,
    minute: 0,
    second: 0,
  };
  let offset = 0;
  let pm: boolean | undefined;
  // The result has the precision of the finest field the format reads: 'MM-yyyy' gives 2016-02T.
  let precision = TimestampPrecision.YEAR;
  let fraction = '';
  const reaches = (field: TimestampPrecision): void => {
    precision = Math.max(precision, field);
  };
  let rest = input;
  let last = 0;
  const tokens = [...pattern.matchAll(FORMAT_TOKEN)];
  const take = (regex: RegExp): string => {
    const match = regex.exec(rest);
    if (match === null) fail(at, `TO_TIMESTAMP: '${input}' does not match the format '${pattern}'`);
    rest = rest.slice(match[0].length);
    return match[0];
  };
  for (const token of tokens) {
    const literal = pattern.slice(last, token.index);
    if (!rest.startsWith(literal))
      fail(at, `TO_TIMESTAMP: '${input}' does not match the format '${pattern}'`);
    rest = rest.slice(literal.length);
    last = token.index! + token[0].length;
    const t = token[0];
    if (/^M/.test(t)) reaches(TimestampPrecision.MONTH);
    else if (/^d/.test(t)) reaches(TimestampPrecision.DAY);
    else if (/^[Hhma]/.test(t)) reaches(TimestampPrecision.HOUR_AND_MINUTE);
    else if (/^[sS]/.test(t)) reaches(TimestampPrecision.SECONDS);
    if (t.startsWith("'")) {
      take(new RegExp(`^${quotedText(t).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    } else if (t === 'yyyy') parts.year = Number(take(/^\d{4}/));
    else if (t === 'y') parts.year = Number(take(/^\d{1,4}/));
    else if (t === 'yy') {
      // Two-digit years from 70 are in the 1900s, the others in the 2000s.
      const year = Number(take(/^\d{2}/));
      parts.year = year >= 70 ? 1900 + year : 2000 + year;
    } else if (t === 'MMMM' || t === 'MMM') {
      const name = take(/^[A-Za-z]+/);
      const index = MONTHS.findIndex((m) =>
        m.toLowerCase().startsWith(name.toLowerCase().slice(0, 3)),
      );
      if (index < 0) fail(at, `TO_TIMESTAMP: unknown month name '${name}'`);
      parts.month = index + 1;
    } else if (t === 'MM' || t === 'M') parts.month = Number(take(/^\d{1,2}/));
    else if (t === 'dd' || t === 'd') parts.day = Number(take(/^\d{1,2}/));
    else if (t === 'HH' || t === 'H' || t === 'hh' || t === 'h')
      parts.hour = Number(take(/^\d{1,2}/));
    else if (t === 'mm' || t === 'm') parts.minute = Number(take(/^\d{1,2}/));
    else if (t === 'ss' || t === 's') parts.second = Number(take(/^\d{1,2}/));
    else if (t.startsWith('S')) fraction = take(new RegExp(`^\\d{${t.length}}`));
    else if (t === 'a') pm = take(/^(AM|PM|am|pm)/).toUpperCase() === 'PM';
    else if (/^[Xx]/.test(t)) {
      const zone = take(t.startsWith('X') ? /^(Z|[+-]\d{2}(:?\d{2})?)/ : /^[+-]\d{2}(:?\d{2})?/);
      if (zone !== 'Z') {
        const digits = zone.replace(':', '');
        offset =
          (digits[0] === '-' ? -1 : 1) *
          (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5) || '0'));
      }
    }
  }
  if (rest !== pattern.slice(last))
    fail(at, `TO_TIMESTAMP: '${input}' does not match the format '${pattern}'`);
  if (pm !== undefined) parts.hour = (parts.hour! % 12) + (pm ? 12 : 0);
  const seconds = Decimal.parse(
    fraction === '' ? `${parts.second}` : `${parts.second}.${fraction}`,
  )!;
  const fieldsByPrecision: number[] = [parts.year!, parts.month!, parts.day!];
  try {
    if (precision < TimestampPrecision.HOUR_AND_MINUTE) {
      const [year, month, day] = fieldsByPrecision.slice(0, precision) as [
        number,
        number?,
        number?,
      ];
      return new dom.Timestamp(new Timestamp(offset, year, month, day));
    }
    return new dom.Timestamp(
      new Timestamp(
        offset,
        parts.year!,
        parts.month!,
        parts.day!,
        parts.hour!,
        parts.minute!,
        precision >= TimestampPrecision.SECONDS ? seconds : undefined,
      ),
    );
  } catch (error) {
    return fail(at, `TO_TIMESTAMP: '${input}' is not a valid time: ${(error as Error).message}`);
  }
}

function tryTimestamp(input: string): dom.Value | undefined {
  try {
    const parsed = Timestamp.parse(input);
    return parsed === null ? undefined : new dom.Timestamp(parsed);
  } catch {
    return undefined;
  }
}

function likeCharacters(value: string): string[] {
  return [...value];
}

const SCALARS: Record<string, ScalarFunction> = {
  CHAR_LENGTH(args, at) {
    arity('CHAR_LENGTH', args, 1, 1, at);
    return (
      propagate(args) ??
      integer(likeCharacters(text('CHAR_LENGTH', args[0] as dom.Value, at)).length)
    );
  },
  CHARACTER_LENGTH(args, at) {
    return SCALARS.CHAR_LENGTH!(args, at);
  },
  LOWER(args, at) {
    arity('LOWER', args, 1, 1, at);
    return propagate(args) ?? new dom.String(text('LOWER', args[0] as dom.Value, at).toLowerCase());
  },
  UPPER(args, at) {
    arity('UPPER', args, 1, 1, at);
    return propagate(args) ?? new dom.String(text('UPPER', args[0] as dom.Value, at).toUpperCase());
  },
  SUBSTRING(args, at) {
    arity('SUBSTRING', args, 2, 3, at);
    const absent = propagate(args);
    if (absent !== undefined) return absent;
    const characters = likeCharacters(text('SUBSTRING', args[0] as dom.Value, at));
    // Positions count from 1; a start before 1 shortens the length, as SQL defines.
    const start = int('SUBSTRING', args[1] as dom.Value, at);
    const length = args.length === 3 ? int('SUBSTRING', args[2] as dom.Value, at) : undefined;
    if (length !== undefined && length < 0)
      fail(at, `SUBSTRING length must not be negative, got ${length}`);
    const from = Math.max(start, 1);
    const to = length === undefined ? characters.length + 1 : Math.max(start + length, 1);
    return new dom.String(characters.slice(from - 1, Math.max(to - 1, from - 1)).join(''));
  },
  TRIM(args, at) {
    const [mode, ...rest] = args;
    const absent = propagate(rest);
    if (absent !== undefined) return absent;
    const value = text('TRIM', rest[0] as dom.Value, at);
    const characters =
      rest.length > 1 ? likeCharacters(text('TRIM', rest[1] as dom.Value, at)) : [' '];
    const chars = likeCharacters(value);
    let start = 0;
    let end = chars.length;
    const how = (mode as dom.Value).stringValue();
    if (how !== 'trailing') while (start < end && characters.includes(chars[start]!)) start++;
    if (how !== 'leading') while (end > start && characters.includes(chars[end - 1]!)) end--;
    return new dom.String(chars.slice(start, end).join(''));
  },
  SIZE(args, at) {
    arity('SIZE', args, 1, 1, at);
    const absent = propagate(args);
    if (absent !== undefined) return absent;
    const value = args[0] as dom.Value;
    const type = value.getType();
    if (type === IonTypes.LIST || type === IonTypes.SEXP) return integer(value.elements().length);
    if (type === IonTypes.STRUCT) return integer(value.fields().length);
    return fail(at, `SIZE expects a list, struct or s-expression, got ${describeValue(value)}`);
  },
  COALESCE(args, at) {
    if (args.length === 0) fail(at, 'COALESCE takes at least 1 argument');
    for (const arg of args) if (!isAbsent(arg)) return arg;
    return NULL;
  },
  NULLIF(args, at) {
    arity('NULLIF', args, 2, 2, at);
    const [a, b] = args as [Value, Value];
    // QLDB documents NULLIF(missing, null) and NULLIF(missing, missing) as null:
    // two absent values count as equal, and MISSING is not passed on.
    if (isAbsent(a) && isAbsent(b)) return NULL;
    if (isAbsent(a) || isAbsent(b)) return a;
    return valuesEqual(a as dom.Value, b as dom.Value) ? NULL : a;
  },
  UTCNOW(args, at) {
    arity('UTCNOW', args, 0, 0, at);
    return new dom.Timestamp(Timestamp.parse(new Date().toISOString())!);
  },
  DATE_ADD(args, at) {
    arity('DATE_ADD', args, 3, 3, at);
    const part = datePart('DATE_ADD', args[0]!, at, DATE_PARTS);
    const absent = propagate(args.slice(1));
    if (absent !== undefined) return absent;
    const count = args[1] as dom.Value;
    if (count.getType() !== IonTypes.INT) {
      fail(at, `DATE_ADD expects a whole number of ${part}s, got ${describeValue(count)}`);
    }
    const amount = Number(count.bigIntValue());
    const ts = timestamp('DATE_ADD', args[2] as dom.Value, at);
    const date = Number.isSafeInteger(amount) ? addToTimestamp(ts, part, amount) : undefined;
    const year = date === undefined ? NaN : date.getUTCFullYear();
    if (!(year >= 1 && year <= 9999)) {
      fail(
        at,
        `DATE_ADD of ${count.bigIntValue()} ${part}s gives a timestamp outside the years 1 to 9999`,
      );
    }
    return timestampFrom(ts, date!, PART_PRECISION[part]);
  },
  DATE_DIFF(args, at) {
    arity('DATE_DIFF', args, 3, 3, at);
    const part = datePart('DATE_DIFF', args[0]!, at, DATE_PARTS);
    const absent = propagate(args.slice(1));
    if (absent !== undefined) return absent;
    const from = timestamp('DATE_DIFF', args[1] as dom.Value, at).getDate();
    const to = timestamp('DATE_DIFF', args[2] as dom.Value, at).getDate();
    return integer(dateDiff(part, from, to));
  },
  EXTRACT(args, at) {
    const part = datePart('EXTRACT', args[0]!, at, EXTRACT_PARTS);
    // QLDB documents EXTRACT from null or missing as null.
    if (isAbsent(args[1]!)) return NULL;
    const ts = timestamp('EXTRACT', args[1] as dom.Value, at);
    // The offset's parts keep its sign: -05:30 gives -5 and -30.
    if (part === 'timezone_hour') return integer(Math.trunc(ts.getLocalOffset() / 60));
    if (part === 'timezone_minute') return integer(ts.getLocalOffset() % 60);
    const index = DATE_PARTS.indexOf(part);
    if (part === 'second') {
      const seconds = ts.getSecondsDecimal();
      return new dom.Decimal(seconds);
    }
    return integer(fields(ts)[index]!);
  },
  TO_STRING(args, at) {
    arity('TO_STRING', args, 2, 2, at);
    const absent = propagate(args);
    if (absent !== undefined) return absent;
    const ts = timestamp('TO_STRING', args[0] as dom.Value, at);
    const pattern = text('TO_STRING', args[1] as dom.Value, at);
    checkFormat('TO_STRING', pattern, at);
    return new dom.String(formatTimestamp(ts, pattern));
  },
  TO_TIMESTAMP(args, at) {
    arity('TO_TIMESTAMP', args, 1, 2, at);
    const absent = propagate(args);
    if (absent !== undefined) return absent;
    const input = text('TO_TIMESTAMP', args[0] as dom.Value, at);
    const pattern = args.length === 2 ? text('TO_TIMESTAMP', args[1] as dom.Value, at) : undefined;
    if (pattern !== undefined) checkFormat('TO_TIMESTAMP', pattern, at);
    return parseTimestamp(input, pattern, at);
  },
  ABS(args, at) {
    arity('ABS', args, 1, 1, at);
    const absent = propagate(args);
    if (absent !== undefined) return absent;
    const value = args[0] as dom.Value;
    if (!isNumber(value)) fail(at, `ABS expects a number, got ${describeValue(value)}`);
    if (value.getType() === IonTypes.INT) {
      const big = value.bigIntValue()!;
      return integer(big < 0n ? -big : big);
    }
    if (value.getType() === IonTypes.FLOAT) return float(Math.abs(value.numberValue()!));
    const text = value.decimalValue()!.toString();
    return decimalOf(text.startsWith('-') ? text.slice(1) : text);
  },
};

export function scalarFunction(name: string): ScalarFunction | undefined {
  return Object.prototype.hasOwnProperty.call(SCALARS, name) ? SCALARS[name] : undefined;
}

// CAST.

/** The type names CAST takes. */
const CAST_TYPES = [
  'NULL',
  'MISSING',
  'BOOL',
  'BOOLEAN',
  'INT',
  'INTEGER',
  'INT4',
  'INT8',
  'BIGINT',
  'SMALLINT',
  'FLOAT',
  'REAL',
  'DOUBLE',
  'DECIMAL',
  'NUMERIC',
  'TIMESTAMP',
  'STRING',
  'VARCHAR',
  'CHAR',
  'TEXT',
  'SYMBOL',
  'BLOB',
  'CLOB',
  'LIST',
  'SEXP',
  'BAG',
  'STRUCT',
  'TUPLE',
];

export function cast(value: Value, type: string, at: Position): Value {
  if (!CAST_TYPES.includes(type)) {
    fail(at, `Unknown type ${type} in CAST; use one of ${CAST_TYPES.join(', ')}`);
  }
  const described = (): string => (value === MISSING ? 'missing' : describeValue(value));
  // As QLDB documents: null and missing cast to NULL and to MISSING, and no other value does.
  if (type === 'NULL' || type === 'MISSING') {
    if (!isAbsent(value)) {
      fail(at, `Cannot cast ${described()} to ${type}; only null and missing cast to ${type}`);
    }
    return type === 'NULL' ? NULL : MISSING;
  }
  if (value === MISSING) return MISSING;
  if (value.isNull()) return NULL;
  const source = value.getType();
  const failCast = (): never => fail(at, `Cannot cast ${described()} to ${type}`);
  switch (type) {
    case 'INT':
    case 'INTEGER':
    case 'INT4':
    case 'INT8':
    case 'BIGINT':
    case 'SMALLINT': {
      if (source === IonTypes.BOOL) return integer(value.booleanValue() ? 1 : 0);
      if (isNumber(value)) {
        if (source === IonTypes.INT) return value;
        const n = toNumber(value);
        if (!Number.isFinite(n)) failCast();
        if (source === IonTypes.DECIMAL) {
          const decimal = value.decimalValue()!;
          const exponent = decimal.getExponent();
          const coefficient = decimal.getCoefficient();
          return integer(
            exponent >= 0
              ? coefficient * 10n ** BigInt(exponent)
              : coefficient / 10n ** BigInt(-exponent),
          );
        }
        return integer(BigInt(Math.trunc(n)));
      }
      if (isText(value)) {
        const written = value.stringValue()!.trim();
        if (!/^[+-]?\d+$/.test(written)) failCast();
        return integer(BigInt(written));
      }
      return failCast();
    }
    case 'FLOAT':
    case 'REAL':
    case 'DOUBLE': {
      if (source === IonTypes.BOOL) return float(value.booleanValue() ? 1 : 0);
      if (isNumber(value)) return float(toNumber(value));
      if (isText(value)) {
        // Decimal digits with an optional exponent, or NaN and Infinity, as
        // Java reads a double; JavaScript's hexadecimal and binary forms are not numbers here.
        const written = value.stringValue()!.trim();
        if (!/^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|NaN|Infinity)$/.test(written)) failCast();
        return float(Number(written));
      }
      return failCast();
    }
    case 'DECIMAL':
    case 'NUMERIC': {
      if (source === IonTypes.BOOL) return decimalOf(value.booleanValue() ? 1 : 0);
      if (source === IonTypes.DECIMAL) return value;
      if (source === IonTypes.INT) return exactDecimal(value.bigIntValue()!, 0);
      if (source === IonTypes.FLOAT) {
        const n = value.numberValue()!;
        if (!Number.isFinite(n)) failCast();
        return decimalOf(n);
      }
      if (isText(value)) {
        const written = value.stringValue()!.trim();
        if (!/^[+-]?(\d+\.?\d*|\.\d+)([eEdD][+-]?\d+)?$/.test(written)) failCast();
        return new dom.Decimal(Decimal.parse(written.replace(/[eE]/, 'd'))!);
      }
      return failCast();
    }
    case 'BOOL':
    case 'BOOLEAN': {
      if (source === IonTypes.BOOL) return value;
      if (isNumber(value)) return toNumber(value) === 0 ? FALSE : TRUE;
      // QLDB documents CAST('a' AS boolean) as false: text is true only when it reads true, in any case.
      if (isText(value)) return value.stringValue()!.trim().toLowerCase() === 'true' ? TRUE : FALSE;
      return failCast();
    }
    case 'STRING':
    case 'VARCHAR':
    case 'CHAR':
    case 'TEXT':
    case 'SYMBOL': {
      let written: string;
      if (isText(value)) written = value.stringValue()!;
      else if (source === IonTypes.BOOL) written = String(value.booleanValue());
      else if (source === IonTypes.INT) written = value.bigIntValue()!.toString();
      else if (source === IonTypes.DECIMAL) written = value.decimalValue()!.toString();
      else if (source === IonTypes.FLOAT) written = floatText(value.numberValue()!);
      else if (source === IonTypes.TIMESTAMP) written = value.timestampValue()!.toString();
      else return failCast();
      return type === 'SYMBOL' ? new dom.Symbol(written) : new dom.String(written);
    }
    case 'TIMESTAMP': {
      if (source === IonTypes.TIMESTAMP) return value;
      if (isText(value)) {
        const parsed = tryTimestamp(value.stringValue()!.trim());
        if (parsed === undefined) failCast();
        return parsed!;
      }
      return failCast();
    }
    case 'LIST':
    case 'SEXP':
    case 'BAG': {
      if (source === IonTypes.LIST || source === IonTypes.SEXP) {
        const items = value.elements();
        return type === 'SEXP' ? new dom.SExpression(items) : new dom.List(items);
      }
      return failCast();
    }
    case 'STRUCT':
    case 'TUPLE':
      if (source === IonTypes.STRUCT) return value;
      return failCast();
    case 'BLOB':
    case 'CLOB':
      if (source === IonTypes.BLOB || source === IonTypes.CLOB) {
        const bytes = value.uInt8ArrayValue()!;
        return type === 'BLOB' ? new dom.Blob(bytes) : new dom.Clob(bytes);
      }
      return failCast();
    default:
      return fail(at, `Unknown type ${type} in CAST`);
  }
}
