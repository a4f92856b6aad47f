// A growable byte buffer with the primitive encodings of the Ion 1.0 binary format
// (https://amazon-ion.github.io/ion-docs/docs/binary.html): VarUInt, VarInt, UInt, Int and
// UTF-8 text. Both the binary encoder and the Ion Hash serializer write through it.

const TWO_POW_32 = 2 ** 32;

/**
 * Strings up to this many UTF-16 code units are encoded by a JavaScript loop, longer ones by
 * Buffer#write. On Node 20.20 the loop is faster below about 25 ASCII characters.
 */
const SHORT_STRING_LENGTH = 24;

/** Returns the number of bytes of the VarUInt encoding of a non-negative integer. */
export function varUIntSize(value: number): number {
  let size = 1;
  let limit = 0x80;
  while (value >= limit) {
    size += 1;
    limit *= 0x80;
  }
  return size;
}

/** Returns the index of the first unpaired surrogate in the string, or -1. */
function findUnpairedSurrogate(text: string): number {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0xd800 || code > 0xdfff) continue;
    const next = text.charCodeAt(index + 1);
    if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) index += 1;
    else return index;
  }
  return -1;
}

/**
 * Checks that the string has a UTF-8 encoding, as Ion text must.
 * @throws RangeError if the string contains an unpaired surrogate.
 */
export function checkWellFormed(text: string): void {
  // String.prototype.isWellFormed exists in Node 20 but is missing from TypeScript's lib ES2023.
  if ((text as unknown as { isWellFormed(): boolean }).isWellFormed()) return;
  throw new RangeError(
    `Invalid string: the unpaired UTF-16 surrogate at index ${findUnpairedSurrogate(text)} ` +
      'has no UTF-8 encoding',
  );
}

export class ByteWriter {
  buffer: Buffer;
  position = 0;

  constructor(initialCapacity = 512) {
    this.buffer = Buffer.allocUnsafe(initialCapacity);
  }

  /** Grows the buffer so that `extra` more bytes fit after the current position. */
  ensure(extra: number): void {
    const required = this.position + extra;
    if (required <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < required) capacity *= 2;
    const grown = Buffer.allocUnsafe(capacity);
    this.buffer.copy(grown, 0, 0, this.position);
    this.buffer = grown;
  }

  /** Returns a view of the bytes written from `start` to the current position. */
  view(start = 0): Buffer {
    return this.buffer.subarray(start, this.position);
  }

  writeByte(byte: number): void {
    if (this.position === this.buffer.length) this.ensure(1);
    this.buffer[this.position++] = byte;
  }

  writeBytes(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buffer.set(bytes, this.position);
    this.position += bytes.length;
  }

  /** Writes a VarUInt: 7 bits per byte, most significant first, the last byte flagged by 0x80. */
  writeVarUInt(value: number): void {
    const size = varUIntSize(value);
    this.ensure(size);
    const buffer = this.buffer;
    let index = this.position + size - 1;
    buffer[index] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
    while (index > this.position) {
      index -= 1;
      buffer[index] = value % 0x80;
      value = Math.floor(value / 0x80);
    }
    this.position += size;
  }

  /**
   * Writes a VarInt: like a VarUInt, but the first byte carries the sign in bit 0x40 and only
   * 6 bits of magnitude. Negative zero (`-0`) is written as 0xC0, which Ion timestamps use for
   * an unknown local offset.
   */
  writeVarInt(value: number): void {
    const negative = value < 0 || Object.is(value, -0);
    let magnitude = Math.abs(value);
    let size = 1;
    let limit = 0x40;
    while (magnitude >= limit) {
      size += 1;
      limit *= 0x80;
    }
    this.ensure(size);
    const buffer = this.buffer;
    const first = this.position;
    let index = first + size - 1;
    if (size === 1) {
      buffer[first] = 0x80 | (negative ? 0x40 : 0) | magnitude;
    } else {
      buffer[index] = (magnitude % 0x80) | 0x80;
      magnitude = Math.floor(magnitude / 0x80);
      while (index > first + 1) {
        index -= 1;
        buffer[index] = magnitude % 0x80;
        magnitude = Math.floor(magnitude / 0x80);
      }
      buffer[first] = (negative ? 0x40 : 0) | magnitude;
    }
    this.position += size;
  }

  /**
   * Writes the minimal big-endian bytes of a non-negative integer below 2^53 (a UInt field).
   * Zero writes nothing.
   */
  writeUInt(magnitude: number): void {
    if (magnitude < 0x100) {
      if (magnitude !== 0) this.writeByte(magnitude);
      return;
    }
    let size = 2;
    let limit = 0x10000;
    while (magnitude >= limit) {
      size += 1;
      limit *= 0x100;
    }
    this.ensure(size);
    const buffer = this.buffer;
    let index = this.position + size - 1;
    if (magnitude < TWO_POW_32) {
      for (; index >= this.position; index--) {
        buffer[index] = magnitude & 0xff;
        magnitude >>>= 8;
      }
    } else {
      for (; index >= this.position; index--) {
        buffer[index] = magnitude % 0x100;
        magnitude = Math.floor(magnitude / 0x100);
      }
    }
    this.position += size;
  }

  /** Writes the minimal big-endian bytes of a non-negative bigint. Zero writes nothing. */
  writeBigUInt(magnitude: bigint): void {
    if (magnitude <= BigInt(Number.MAX_SAFE_INTEGER)) {
      this.writeUInt(Number(magnitude));
      return;
    }
    let hex = magnitude.toString(16);
    if (hex.length % 2 === 1) hex = '0' + hex;
    this.ensure(hex.length / 2);
    this.position += this.buffer.write(hex, this.position, 'hex');
  }

  /**
   * Writes an Int field (sign and magnitude, big-endian, the sign in the top bit of the first
   * byte). A zero magnitude writes nothing when positive and 0x80 when negative.
   */
  writeInt(magnitude: number | bigint, negative: boolean): void {
    const start = this.position;
    this.writeByte(0);
    if (typeof magnitude === 'number') this.writeUInt(magnitude);
    else this.writeBigUInt(magnitude);
    const buffer = this.buffer;
    if (this.position === start + 1) {
      // Zero magnitude: keep the placeholder byte only to carry a negative sign.
      if (negative) buffer[start] = 0x80;
      else this.position = start;
      return;
    }
    if ((buffer[start + 1]! & 0x80) === 0) {
      // The sign fits in the top bit of the first magnitude byte: drop the placeholder.
      buffer.copyWithin(start, start + 1, this.position);
      this.position -= 1;
      if (negative) buffer[start] = buffer[start]! | 0x80;
    } else if (negative) {
      buffer[start] = 0x80;
    }
  }

  /** Writes an IEEE 754 binary64 value, big-endian. */
  writeFloat64(value: number): void {
    this.ensure(8);
    this.buffer.writeDoubleBE(value, this.position);
    this.position += 8;
  }

  /**
   * Writes the UTF-8 encoding of the string.
   * @throws RangeError if the string contains an unpaired surrogate, which has no UTF-8 form.
   */
  writeUtf8(text: string): void {
    const length = text.length;
    this.ensure(length * 3);
    const buffer = this.buffer;
    let index = 0;
    if (length <= SHORT_STRING_LENGTH) {
      let position = this.position;
      for (; index < length; index++) {
        const code = text.charCodeAt(index);
        if (code >= 0x80) break;
        buffer[position++] = code;
      }
      this.position = position;
      if (index === length) return;
    }
    checkWellFormed(text);
    const rest = index === 0 ? text : text.slice(index);
    this.position += buffer.write(rest, this.position, 'utf8');
  }

  /**
   * Writes a type descriptor byte at `start`, whose content runs from `start + 1` to the current
   * position. A content of 14 bytes or more needs a VarUInt length after the descriptor, so the
   * content moves right to make room.
   */
  finishHeader(start: number, typeCode: number): void {
    const length = this.position - start - 1;
    if (length < 14) {
      this.buffer[start] = (typeCode << 4) | length;
      return;
    }
    const lengthSize = varUIntSize(length);
    this.ensure(lengthSize);
    this.buffer.copyWithin(start + 1 + lengthSize, start + 1, this.position);
    const end = this.position + lengthSize;
    this.buffer[start] = (typeCode << 4) | 0x0e;
    this.position = start + 1;
    this.writeVarUInt(length);
    this.position = end;
  }
}
