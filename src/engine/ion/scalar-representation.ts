// Representations of Ion numbers in the binary format: the bytes after the type descriptor and
// length. Ion Hash hashes these same bytes, so both the encoder and the hasher use them.
import type { Decimal } from 'ion-js';

import type { ByteWriter } from './byte-writer.js';

/** Type codes of the binary format (the high nibble of a type descriptor). */
export const TypeCode = {
  null: 0x0,
  bool: 0x1,
  positiveInt: 0x2,
  negativeInt: 0x3,
  float: 0x4,
  decimal: 0x5,
  timestamp: 0x6,
  symbol: 0x7,
  string: 0x8,
  clob: 0x9,
  blob: 0xa,
  list: 0xb,
  sexp: 0xc,
  struct: 0xd,
  annotation: 0xe,
} as const;

/**
 * Writes the magnitude of an integer and returns its type code: positive int for zero and
 * positive values, negative int otherwise. Zero has an empty representation.
 */
export function writeIntRepresentation(writer: ByteWriter, value: number | bigint): number {
  if (typeof value === 'number') {
    if (value < 0) {
      const magnitude = -value;
      if (magnitude <= Number.MAX_SAFE_INTEGER) writer.writeUInt(magnitude);
      else writer.writeBigUInt(BigInt(magnitude));
      return TypeCode.negativeInt;
    }
    if (value <= Number.MAX_SAFE_INTEGER) writer.writeUInt(value);
    else writer.writeBigUInt(BigInt(value));
    return TypeCode.positiveInt;
  }
  if (value < 0n) {
    writer.writeBigUInt(-value);
    return TypeCode.negativeInt;
  }
  writer.writeBigUInt(value);
  return TypeCode.positiveInt;
}

/**
 * Writes a float as 64 bits, the form Ion Hash requires. Positive zero has an empty
 * representation, but negative zero keeps its 8 bytes.
 */
export function writeFloatRepresentation(writer: ByteWriter, value: number): void {
  if (value === 0 && !Object.is(value, -0)) return;
  writer.writeFloat64(value);
}

/**
 * Writes a decimal as a VarInt exponent followed by an Int coefficient. The coefficient is
 * omitted when it is positive zero, and 0d0 has an empty representation.
 */
export function writeDecimalRepresentation(writer: ByteWriter, value: Decimal): void {
  // An exponent of -0 is the integer 0. Writing it as +0 keeps 0d-0 equal to 0d0.
  const exponent = value.getExponent() === 0 ? 0 : value.getExponent();
  const coefficient = value.getCoefficient();
  const negative = value.isNegative();
  if (coefficient === 0n && !negative) {
    if (exponent !== 0) writer.writeVarInt(exponent);
    return;
  }
  writer.writeVarInt(exponent);
  writer.writeInt(coefficient < 0n ? -coefficient : coefficient, negative);
}
