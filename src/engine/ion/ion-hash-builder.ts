// Ion Hash 1.0 (https://amazon-ion.github.io/ion-hash/docs/spec.html) computed from a stream
// of write calls, without building dom values. The serialization s(v) of a value is written
// into one reusable buffer:
//   scalar     B || TQ || escape(representation) || E
//   list/sexp  B || TQ || s(v1) || ... || s(vn) || E
//   struct     B || 0xD0 || escape(sorted field hashes) || E,
//              where each field hash is H(s(name as symbol) || s(value))
//   annotated  B || 0xE0 || s(annotation 1) || ... || s(annotation n) || s(value) || E
// with B = 0x0B, E = 0x0E, and escape() putting 0x0C before every 0x0B, 0x0C and 0x0E byte.
// The hash of a value is H(s(v)).
import type { Decimal, Timestamp, dom } from 'ion-js';

import {
  checkBoolean,
  checkBytes,
  checkContainerType,
  checkDecimal,
  checkDomValue,
  checkInteger,
  checkNullType,
  checkNumber,
  checkString,
  checkStrings,
  checkTimestamp,
} from './argument-checks.js';
import { ByteWriter } from './byte-writer.js';
import { CONTAINER_TYPE_CODES, NULL_TYPE_CODES, writeDomValue } from './ion-value-writer.js';
import type { ContainerType, IonTypeName, IonValueWriter } from './ion-value-writer.js';
import {
  TypeCode,
  writeDecimalRepresentation,
  writeFloatRepresentation,
  writeIntRepresentation,
} from './scalar-representation.js';
import { sha256 } from './sha256.js';
import {
  writeDateRepresentation,
  writeTimestampRepresentation,
} from './timestamp-representation.js';

const BEGIN_MARKER = 0x0b;
const END_MARKER = 0x0e;
const ESCAPE = 0x0c;

/** Returns whether the byte must be escaped: 0x0B, 0x0C or 0x0E. */
function isMarker(byte: number): boolean {
  return byte === BEGIN_MARKER || byte === END_MARKER || byte === ESCAPE;
}

/** Orders byte arrays as unsigned bytes, comparing first bytes in JavaScript because two hashes nearly always differ there. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return a[0]! - b[0]! || Buffer.compare(a, b);
}

/** Type qualifier of an annotation wrapper. */
const ANNOTATED = 0xe0;

/**
 * A hash function from bytes to a digest, used for struct field hashes and for the result.
 * It must not keep `data`, which is a view of a buffer the builder reuses.
 */
export type DigestFunction = (data: Uint8Array) => Uint8Array;

interface Frame {
  typeCode: number;
  annotated: boolean;
  /** Position where the serialization of the current field name starts (structs only). */
  fieldStart: number;
  fieldHashes: Uint8Array[];
}

/**
 * Computes the Ion hash of one value written through {@link IonValueWriter} calls, for
 * example `new IonHashBuilder().stepIn('struct').fieldName('id').int(7).stepOut().digest()`.
 * The builder is reusable: `digest()` returns the hash and resets it.
 */
export class IonHashBuilder implements IonValueWriter {
  private readonly digestFunction: DigestFunction;
  private readonly output = new ByteWriter();
  private readonly frames: Frame[] = [];
  private depth = 0;
  private pendingAnnotations: readonly string[] | null = null;
  private hasFieldName = false;
  private scalarAnnotated = false;
  private complete = false;

  /**
   * @param digestFunction applied to each struct field serialization and to the serialization
   *   of the whole value; defaults to SHA-256.
   */
  constructor(digestFunction: DigestFunction = sha256) {
    if (typeof digestFunction !== 'function') {
      throw new TypeError(
        `Invalid digestFunction: expected a function, received ${typeof digestFunction}`,
      );
    }
    this.digestFunction = digestFunction;
  }

  /** Returns the hash of the value written and resets the builder. */
  digest(): Uint8Array {
    if (this.depth !== 0) {
      throw new Error(
        `Cannot digest: ${this.depth} container(s) are still open. Call stepOut() first`,
      );
    }
    if (!this.complete) throw new Error('Cannot digest: no value has been written');
    this.checkNoPendingAnnotations();
    const result = this.digestFunction(this.output.view(0));
    this.reset();
    return result;
  }

  /** Discards everything written since the last digest. */
  reset(): void {
    for (let index = 0; index < this.depth; index++) this.frames[index]!.fieldHashes.length = 0;
    this.depth = 0;
    this.output.position = 0;
    this.pendingAnnotations = null;
    this.hasFieldName = false;
    this.complete = false;
  }

  annotate(annotations: readonly string[]): this {
    checkStrings(annotations, 'annotations');
    this.pendingAnnotations = annotations.length > 0 ? annotations : null;
    return this;
  }

  fieldName(name: string): this {
    checkString(name, 'name');
    const frame = this.depth > 0 ? this.frames[this.depth - 1]! : undefined;
    if (frame === undefined || frame.typeCode !== TypeCode.struct) {
      throw new Error('Cannot write a field name outside a struct');
    }
    if (this.hasFieldName) {
      throw new Error(
        `Cannot write field name ${JSON.stringify(name)}: the previous field has no value`,
      );
    }
    frame.fieldStart = this.output.position;
    this.writeSymbolSerialization(name);
    this.hasFieldName = true;
    return this;
  }

  null(type: IonTypeName = 'null'): this {
    checkNullType(type, 'type');
    const start = this.beginScalar();
    this.endScalar(start, (NULL_TYPE_CODES[type] << 4) | 0x0f);
    return this;
  }

  bool(value: boolean): this {
    checkBoolean(value, 'value');
    const start = this.beginScalar();
    this.endScalar(start, value ? 0x11 : 0x10);
    return this;
  }

  int(value: number | bigint): this {
    checkInteger(value, 'value');
    const start = this.beginScalar();
    const typeCode = writeIntRepresentation(this.output, value);
    this.endScalar(start, typeCode << 4);
    return this;
  }

  float(value: number): this {
    checkNumber(value, 'value');
    const start = this.beginScalar();
    writeFloatRepresentation(this.output, value);
    this.endScalar(start, TypeCode.float << 4);
    return this;
  }

  decimal(value: Decimal): this {
    checkDecimal(value, 'value');
    const start = this.beginScalar();
    writeDecimalRepresentation(this.output, value);
    this.endScalar(start, TypeCode.decimal << 4);
    return this;
  }

  timestamp(value: Timestamp | Date): this {
    checkTimestamp(value, 'value');
    const start = this.beginScalar();
    if (value instanceof Date) writeDateRepresentation(this.output, value);
    else writeTimestampRepresentation(this.output, value);
    this.endScalar(start, TypeCode.timestamp << 4);
    return this;
  }

  string(value: string): this {
    checkString(value, 'value');
    const start = this.beginScalar();
    this.output.writeUtf8(value);
    this.endScalar(start, TypeCode.string << 4);
    return this;
  }

  /** Writes a symbol. Ion Hash uses its text, whatever its symbol ID. */
  symbol(text: string): this {
    checkString(text, 'text');
    const start = this.beginScalar();
    this.output.writeUtf8(text);
    this.endScalar(start, TypeCode.symbol << 4);
    return this;
  }

  blob(bytes: Uint8Array): this {
    checkBytes(bytes, 'bytes');
    const start = this.beginScalar();
    this.output.writeBytes(bytes);
    this.endScalar(start, TypeCode.blob << 4);
    return this;
  }

  clob(bytes: Uint8Array): this {
    checkBytes(bytes, 'bytes');
    const start = this.beginScalar();
    this.output.writeBytes(bytes);
    this.endScalar(start, TypeCode.clob << 4);
    return this;
  }

  /**
   * Adds a struct field whose field hash, SHA-256 of `s(name) || s(value)`,
   * is already known, such as one computed once with `computeFieldHash`.
   */
  fieldHash(hash: Uint8Array): this {
    checkBytes(hash, 'hash');
    if (this.depth === 0 || this.frames[this.depth - 1]!.typeCode !== TypeCode.struct) {
      throw new Error('Cannot add a field hash outside a struct');
    }
    if (this.hasFieldName) {
      throw new Error('Cannot add a field hash: the previous field has no value');
    }
    this.frames[this.depth - 1]!.fieldHashes.push(hash);
    return this;
  }

  /**
   * Returns the field hash of one struct field, for `fieldHash`. `write`
   * writes the field's value. Resets the builder.
   */
  computeFieldHash(name: string, write: (builder: this) => void): Uint8Array {
    this.reset();
    this.stepIn('struct').fieldName(name);
    write(this);
    if (this.hasFieldName)
      throw new Error(`computeFieldHash: no value was written for field ${name}`);
    const hash = this.frames[0]!.fieldHashes[0]!;
    this.reset();
    return hash;
  }

  /**
   * Writes a value whose serialization `s(v)` is already known, such as one
   * returned by `computeSerialization`, in place of writing the value itself.
   */
  serializedValue(serialization: Uint8Array): this {
    checkBytes(serialization, 'serialization');
    const annotated = this.beginValue();
    this.output.writeBytes(serialization);
    this.endValue(annotated);
    return this;
  }

  /**
   * Returns the serialization `s(v)` of one value, for `serializedValue`.
   * `write` writes the value. Resets the builder.
   */
  computeSerialization(write: (builder: this) => void): Uint8Array {
    this.reset();
    write(this);
    if (!this.complete || this.depth !== 0) {
      throw new Error(
        'computeSerialization failed: the write function must write exactly one complete value',
      );
    }
    this.checkNoPendingAnnotations();
    const serialization = Uint8Array.from(this.output.view(0));
    this.reset();
    return serialization;
  }

  stepIn(type: ContainerType): this {
    checkContainerType(type, 'type');
    const annotated = this.beginValue();
    const typeCode = CONTAINER_TYPE_CODES[type];
    this.output.writeByte(BEGIN_MARKER);
    this.output.writeByte(typeCode << 4);
    let frame = this.frames[this.depth];
    if (frame === undefined) {
      frame = { typeCode, annotated, fieldStart: 0, fieldHashes: [] };
      this.frames.push(frame);
    } else {
      frame.typeCode = typeCode;
      frame.annotated = annotated;
    }
    this.depth += 1;
    return this;
  }

  stepOut(): this {
    if (this.depth === 0) throw new Error('Cannot step out: not inside a container');
    if (this.hasFieldName) {
      throw new Error('Cannot step out of a struct whose last field has no value');
    }
    this.checkNoPendingAnnotations();
    const frame = this.frames[this.depth - 1]!;
    if (frame.typeCode === TypeCode.struct) {
      // Field hashes sort as unsigned bytes. Duplicates stay, so repeated fields all count.
      const hashes = frame.fieldHashes;
      hashes.sort(compareBytes);
      for (const hash of hashes) this.writeEscaped(hash);
      hashes.length = 0;
    }
    this.output.writeByte(END_MARKER);
    this.depth -= 1;
    this.endValue(frame.annotated);
    return this;
  }

  value(value: dom.Value): this {
    checkDomValue(value, 'value');
    writeDomValue(this, value);
    return this;
  }

  /** Throws if annotate() was called but no value followed it. */
  private checkNoPendingAnnotations(): void {
    if (this.pendingAnnotations !== null) {
      throw new Error('Invalid annotate() call: no value follows the annotations');
    }
  }

  /** Checks that a value may start here and writes the annotation wrapper prefix if any. */
  private beginValue(): boolean {
    if (this.depth === 0) {
      if (this.complete) {
        throw new Error('Cannot write a second top-level value. Call digest() first');
      }
    } else if (this.frames[this.depth - 1]!.typeCode === TypeCode.struct) {
      if (!this.hasFieldName) {
        throw new Error('Cannot write a struct field value without fieldName() first');
      }
      this.hasFieldName = false;
    }
    const annotations = this.pendingAnnotations;
    if (annotations === null) return false;
    this.pendingAnnotations = null;
    this.output.writeByte(BEGIN_MARKER);
    this.output.writeByte(ANNOTATED);
    for (const annotation of annotations) this.writeSymbolSerialization(annotation);
    return true;
  }

  /** Closes an annotation wrapper, and inside a struct replaces the field with its hash. */
  private endValue(annotated: boolean): void {
    const output = this.output;
    if (annotated) output.writeByte(END_MARKER);
    if (this.depth === 0) {
      this.complete = true;
      return;
    }
    const frame = this.frames[this.depth - 1]!;
    if (frame.typeCode !== TypeCode.struct) return;
    frame.fieldHashes.push(this.digestFunction(output.view(frame.fieldStart)));
    output.position = frame.fieldStart;
  }

  /** Starts a scalar and returns the position of its type qualifier, which endScalar fills in. */
  private beginScalar(): number {
    this.scalarAnnotated = this.beginValue();
    this.output.writeByte(BEGIN_MARKER);
    this.output.writeByte(0);
    return this.output.position - 1;
  }

  private endScalar(qualifierPosition: number, typeQualifier: number): void {
    this.output.buffer[qualifierPosition] = typeQualifier;
    this.escapeFrom(qualifierPosition + 1);
    this.output.writeByte(END_MARKER);
    this.endValue(this.scalarAnnotated);
  }

  /** Writes s(text as symbol), used for field names and annotations. */
  private writeSymbolSerialization(text: string): void {
    const output = this.output;
    output.writeByte(BEGIN_MARKER);
    output.writeByte(TypeCode.symbol << 4);
    const start = output.position;
    output.writeUtf8(text);
    this.escapeFrom(start);
    output.writeByte(END_MARKER);
  }

  /** Escapes the marker bytes written from `start` to the current position, in place. */
  private escapeFrom(start: number): void {
    const output = this.output;
    const end = output.position;
    let buffer = output.buffer;
    let count = 0;
    for (let index = start; index < end; index++) {
      const byte = buffer[index];
      if (isMarker(byte!)) count += 1;
    }
    if (count === 0) return;
    output.ensure(count);
    buffer = output.buffer;
    let target = end + count - 1;
    for (let index = end - 1; index >= start; index--) {
      const byte = buffer[index]!;
      buffer[target--] = byte;
      if (isMarker(byte)) buffer[target--] = ESCAPE;
    }
    output.position = end + count;
  }

  private writeEscaped(bytes: Uint8Array): void {
    const output = this.output;
    let markers = 0;
    for (let index = 0; index < bytes.length; index++) {
      if (isMarker(bytes[index]!)) markers += 1;
    }
    output.ensure(bytes.length + markers);
    const buffer = output.buffer;
    let position = output.position;
    if (markers === 0) {
      buffer.set(bytes, position);
      output.position = position + bytes.length;
      return;
    }
    for (let index = 0; index < bytes.length; index++) {
      const byte = bytes[index]!;
      if (isMarker(byte)) buffer[position++] = ESCAPE;
      buffer[position++] = byte;
    }
    output.position = position;
  }
}
