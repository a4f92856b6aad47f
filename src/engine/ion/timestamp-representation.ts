// Binary representation of Ion timestamps: a VarInt offset in minutes (0xC0 for the unknown
// offset -00:00), then the UTC fields as VarUInts down to the precision, then the fractional
// seconds as a VarInt exponent and an optional Int coefficient.
import { TimestampPrecision } from 'ion-js';
import type { Decimal, Timestamp } from 'ion-js';

import type { ByteWriter } from './byte-writer.js';

/**
 * Local-time fields of an ion-js 5.x Timestamp. The public API exposes them only through
 * getDate(), which rounds fractional seconds to milliseconds and can carry into the next
 * minute, so the encoder reads them directly.
 */
interface TimestampLocalFields {
  readonly _year: unknown;
  readonly _month: unknown;
  readonly _day: unknown;
  readonly _hour: unknown;
  readonly _minutes: unknown;
}

const MINUTES_PER_DAY = 24 * 60;
const MAX_FAST_SCALE_DIGITS = 15;

/** Writes an ion-js Timestamp exactly as given: precision, offset and fractional digits. */
export function writeTimestampRepresentation(writer: ByteWriter, value: Timestamp): void {
  const local = value as unknown as TimestampLocalFields;
  if (
    typeof local._year !== 'number' ||
    typeof local._month !== 'number' ||
    typeof local._day !== 'number' ||
    typeof local._hour !== 'number' ||
    typeof local._minutes !== 'number'
  ) {
    throw new TypeError(
      'Unsupported ion-js Timestamp: expected the ion-js 5.x fields _year, _month, _day, ' +
        '_hour and _minutes to be numbers',
    );
  }
  let year = local._year;
  let month = local._month;
  let day = local._day;
  let hour = local._hour;
  let minute = local._minutes;
  const precision = value.getPrecision();
  const offset = value.getLocalOffset();

  if (precision >= TimestampPrecision.HOUR_AND_MINUTE && offset !== 0) {
    // Binary timestamps store UTC fields; the seconds never change because offsets are whole minutes.
    const minuteOfDay = hour * 60 + minute - offset;
    if (minuteOfDay >= 0 && minuteOfDay < MINUTES_PER_DAY) {
      hour = Math.floor(minuteOfDay / 60);
      minute = minuteOfDay % 60;
    } else {
      // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
      const date = new Date(0);
      date.setUTCFullYear(year, month - 1, day);
      date.setUTCHours(0, minuteOfDay, 0, 0);
      year = date.getUTCFullYear();
      month = date.getUTCMonth() + 1;
      day = date.getUTCDate();
      hour = date.getUTCHours();
      minute = date.getUTCMinutes();
    }
  }

  writer.writeVarInt(offset);
  writer.writeVarUInt(year);
  if (precision >= TimestampPrecision.MONTH) writer.writeVarUInt(month);
  if (precision >= TimestampPrecision.DAY) writer.writeVarUInt(day);
  if (precision >= TimestampPrecision.HOUR_AND_MINUTE) {
    writer.writeVarUInt(hour);
    writer.writeVarUInt(minute);
  }
  if (precision >= TimestampPrecision.SECONDS) writeSeconds(writer, value.getSecondsDecimal());
}

/**
 * Writes whole seconds, then the fraction when the seconds have digits after the point. A
 * fraction of zero keeps its exponent (0.000 is written as exponent -3 without a coefficient),
 * so the precision survives.
 */
function writeSeconds(writer: ByteWriter, seconds: Decimal): void {
  const exponent = seconds.getExponent();
  const coefficient = seconds.getCoefficient();
  if (exponent >= 0) {
    writer.writeVarUInt(Number(coefficient) * 10 ** exponent);
    return;
  }
  const digits = -exponent;
  if (digits <= MAX_FAST_SCALE_DIGITS && coefficient <= BigInt(Number.MAX_SAFE_INTEGER)) {
    // Remainder and exact division of safe integers are exact in binary64.
    const value = Number(coefficient);
    const scale = 10 ** digits;
    const fraction = value % scale;
    writer.writeVarUInt((value - fraction) / scale);
    writer.writeVarInt(exponent);
    if (fraction !== 0) writer.writeInt(fraction, false);
    return;
  }
  const scale = 10n ** BigInt(digits);
  const fraction = coefficient % scale;
  writer.writeVarUInt(Number(coefficient / scale));
  writer.writeVarInt(exponent);
  if (fraction !== 0n) writer.writeInt(fraction, false);
}

/**
 * Writes a Date as a timestamp with millisecond precision at offset +00:00, for example
 * 2026-12-04T10:00:00.000Z. The caller checks that the date is valid and in years 1 to 9999.
 */
export function writeDateRepresentation(writer: ByteWriter, date: Date): void {
  writer.writeVarInt(0);
  writer.writeVarUInt(date.getUTCFullYear());
  writer.writeVarUInt(date.getUTCMonth() + 1);
  writer.writeVarUInt(date.getUTCDate());
  writer.writeVarUInt(date.getUTCHours());
  writer.writeVarUInt(date.getUTCMinutes());
  writer.writeVarUInt(date.getUTCSeconds());
  writer.writeVarInt(-3);
  const milliseconds = date.getUTCMilliseconds();
  if (milliseconds !== 0) writer.writeInt(milliseconds, false);
}

/**
 * Checks that a Date can be written as an Ion timestamp.
 * @throws RangeError if the date is invalid or outside years 1 to 9999.
 */
export function checkDate(date: Date): void {
  const time = date.getTime();
  if (Number.isNaN(time)) throw new RangeError('Invalid Date: expected a valid date, received NaN');
  const year = date.getUTCFullYear();
  if (year < 1 || year > 9999) {
    throw new RangeError(`Invalid Date: expected a UTC year from 1 to 9999, received ${year}`);
  }
}
