// Streaming Ion 1.0 binary writer (https://amazon-ion.github.io/ion-docs/docs/binary.html).
// Values go into one reusable buffer in a single pass: each value or container reserves one
// byte for its type descriptor, and when it ends the content moves right if its length needs
// a VarUInt. Symbols get IDs as they appear, so the local symbol table is written last and
// placed in front of the values when the stream is finished.
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
import { ByteWriter, checkWellFormed, varUIntSize } from './byte-writer.js';
import { CONTAINER_TYPE_CODES, NULL_TYPE_CODES, writeDomValue } from './ion-value-writer.js';
import type { ContainerType, IonTypeName, IonValueWriter } from './ion-value-writer.js';
import {
  TypeCode,
  writeDecimalRepresentation,
  writeFloatRepresentation,
  writeIntRepresentation,
} from './scalar-representation.js';
import {
  writeDateRepresentation,
  writeTimestampRepresentation,
} from './timestamp-representation.js';

const VERSION_MARKER = [0xe0, 0x01, 0x00, 0xea] as const;

/** The Ion 1.0 system symbol table: symbol ID n is element n - 1. */
const SYSTEM_SYMBOLS = [
  '$ion',
  '$ion_1_0',
  '$ion_symbol_table',
  'name',
  'version',
  'imports',
  'symbols',
  'max_id',
  '$ion_shared_symbol_table',
] as const;

const SYMBOL_TABLE_SID = 3;
const SYMBOLS_SID = 7;
const FIRST_LOCAL_SID = SYSTEM_SYMBOLS.length + 1;

interface Frame {
  typeCode: number;
  /** Position of the container's type descriptor. */
  headerStart: number;
  /** Position of the annotation wrapper's type descriptor, or -1 without annotations. */
  annotationStart: number;
}

/**
 * Writes Ion values to a binary stream, for example
 * `new IonBinaryWriter().stepIn('struct').fieldName('id').int(7).stepOut().finish()`.
 * Symbols that are not system symbols go to a local symbol table in order of first use,
 * the order ion-js uses, so the output matches `ion.dumpBinary` for the same values.
 */
export class IonBinaryWriter implements IonValueWriter {
  private readonly output = new ByteWriter();
  /** Symbol IDs by text: the system symbols, then the local ones of the current stream. */
  private readonly symbolIds = new Map<string, number>(
    SYSTEM_SYMBOLS.map((text, index) => [text, index + 1]),
  );
  private readonly localSymbols: string[] = [];
  private readonly frames: Frame[] = [];
  private depth = 0;
  private pendingAnnotations: readonly string[] | null = null;
  private readonly annotationIds: number[] = [];
  private hasFieldName = false;

  /**
   * Returns the stream written so far: the version marker, a local symbol table when any
   * symbol is not a system symbol, and the values. Resets the writer.
   */
  finish(): Uint8Array {
    if (this.depth !== 0) {
      throw new Error(
        `Cannot finish: ${this.depth} container(s) are still open. Call stepOut() first`,
      );
    }
    this.checkNoPendingAnnotations();
    const output = this.output;
    const valuesEnd = output.position;
    if (this.localSymbols.length > 0) this.writeSymbolTable();
    const tableLength = output.position - valuesEnd;
    const stream = new Uint8Array(VERSION_MARKER.length + tableLength + valuesEnd);
    stream.set(VERSION_MARKER, 0);
    stream.set(output.buffer.subarray(valuesEnd, output.position), VERSION_MARKER.length);
    stream.set(output.buffer.subarray(0, valuesEnd), VERSION_MARKER.length + tableLength);
    this.reset();
    return stream;
  }

  /** Discards everything written since the last finish. */
  reset(): void {
    for (const text of this.localSymbols) this.symbolIds.delete(text);
    this.localSymbols.length = 0;
    this.output.position = 0;
    this.depth = 0;
    this.pendingAnnotations = null;
    this.hasFieldName = false;
  }

  annotate(annotations: readonly string[]): this {
    checkStrings(annotations, 'annotations');
    this.pendingAnnotations = annotations.length > 0 ? annotations : null;
    return this;
  }

  fieldName(name: string): this {
    checkString(name, 'name');
    if (this.depth === 0 || this.frames[this.depth - 1]!.typeCode !== TypeCode.struct) {
      throw new Error('Cannot write a field name outside a struct');
    }
    if (this.hasFieldName) {
      throw new Error(
        `Cannot write field name ${JSON.stringify(name)}: the previous field has no value`,
      );
    }
    this.output.writeVarUInt(this.symbolId(name));
    this.hasFieldName = true;
    return this;
  }

  null(type: IonTypeName = 'null'): this {
    checkNullType(type, 'type');
    if (type === 'struct') this.checkNotSymbolTable();
    const annotationStart = this.beginValue();
    this.output.writeByte((NULL_TYPE_CODES[type] << 4) | 0x0f);
    this.endValue(annotationStart);
    return this;
  }

  bool(value: boolean): this {
    checkBoolean(value, 'value');
    const annotationStart = this.beginValue();
    this.output.writeByte(value ? 0x11 : 0x10);
    this.endValue(annotationStart);
    return this;
  }

  int(value: number | bigint): this {
    checkInteger(value, 'value');
    const annotationStart = this.beginValue();
    const start = this.reserveHeader();
    const typeCode = writeIntRepresentation(this.output, value);
    this.output.finishHeader(start, typeCode);
    this.endValue(annotationStart);
    return this;
  }

  /** Writes a 64-bit float (positive zero takes no bytes). */
  float(value: number): this {
    checkNumber(value, 'value');
    const annotationStart = this.beginValue();
    const start = this.reserveHeader();
    writeFloatRepresentation(this.output, value);
    this.output.finishHeader(start, TypeCode.float);
    this.endValue(annotationStart);
    return this;
  }

  decimal(value: Decimal): this {
    checkDecimal(value, 'value');
    const annotationStart = this.beginValue();
    const start = this.reserveHeader();
    writeDecimalRepresentation(this.output, value);
    this.output.finishHeader(start, TypeCode.decimal);
    this.endValue(annotationStart);
    return this;
  }

  timestamp(value: Timestamp | Date): this {
    checkTimestamp(value, 'value');
    const annotationStart = this.beginValue();
    const start = this.reserveHeader();
    if (value instanceof Date) writeDateRepresentation(this.output, value);
    else writeTimestampRepresentation(this.output, value);
    this.output.finishHeader(start, TypeCode.timestamp);
    this.endValue(annotationStart);
    return this;
  }

  string(value: string): this {
    checkString(value, 'value');
    const annotationStart = this.beginValue();
    const start = this.reserveHeader();
    this.output.writeUtf8(value);
    this.output.finishHeader(start, TypeCode.string);
    this.endValue(annotationStart);
    return this;
  }

  symbol(text: string): this {
    checkString(text, 'text');
    if (this.depth === 0 && text === '$ion_1_0') {
      // The Ion text format reads this symbol as a version marker, and the ion-js 5 binary
      // reader drops it even when annotated.
      throw new RangeError(
        'Cannot write the symbol $ion_1_0 at top level: readers take it as a version marker',
      );
    }
    // ion-js assigns the value's symbol ID before its annotations' IDs. Doing the same keeps
    // the symbol table, and so the bytes, identical to its output.
    const symbolId = this.symbolId(text);
    const annotationStart = this.beginValue();
    const start = this.reserveHeader();
    this.output.writeUInt(symbolId);
    this.output.finishHeader(start, TypeCode.symbol);
    this.endValue(annotationStart);
    return this;
  }

  blob(bytes: Uint8Array): this {
    checkBytes(bytes, 'bytes');
    return this.writeLob(TypeCode.blob, bytes);
  }

  clob(bytes: Uint8Array): this {
    checkBytes(bytes, 'bytes');
    return this.writeLob(TypeCode.clob, bytes);
  }

  stepIn(type: ContainerType): this {
    checkContainerType(type, 'type');
    if (type === 'struct') this.checkNotSymbolTable();
    const annotationStart = this.beginValue();
    const typeCode = CONTAINER_TYPE_CODES[type];
    const headerStart = this.reserveHeader();
    let frame = this.frames[this.depth];
    if (frame === undefined) {
      frame = { typeCode, headerStart, annotationStart };
      this.frames.push(frame);
    } else {
      frame.typeCode = typeCode;
      frame.headerStart = headerStart;
      frame.annotationStart = annotationStart;
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
    // A struct body is empty or at least two bytes, so it never takes length 1, which the
    // binary format reserves for structs with sorted fields.
    this.output.finishHeader(frame.headerStart, frame.typeCode);
    this.depth -= 1;
    this.endValue(frame.annotationStart);
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

  /**
   * Rejects a top-level struct whose first annotation is $ion_symbol_table: readers take it
   * as a local symbol table, not as data.
   */
  private checkNotSymbolTable(): void {
    if (this.depth === 0 && this.pendingAnnotations?.[0] === '$ion_symbol_table') {
      throw new RangeError(
        'Cannot write a top-level struct annotated first with $ion_symbol_table: readers take it as a local symbol table',
      );
    }
  }

  private writeLob(typeCode: number, bytes: Uint8Array): this {
    const annotationStart = this.beginValue();
    const start = this.reserveHeader();
    this.output.writeBytes(bytes);
    this.output.finishHeader(start, typeCode);
    this.endValue(annotationStart);
    return this;
  }

  private reserveHeader(): number {
    this.output.writeByte(0);
    return this.output.position - 1;
  }

  /** Returns the symbol ID of the text, adding it to the local symbol table if it is new. */
  private symbolId(text: string): number {
    let id = this.symbolIds.get(text);
    if (id === undefined) {
      // Checked now because the symbol table, which contains the text, is written last.
      checkWellFormed(text);
      id = FIRST_LOCAL_SID + this.localSymbols.length;
      this.localSymbols.push(text);
      this.symbolIds.set(text, id);
    }
    return id;
  }

  /**
   * Checks that a value may start here and opens its annotation wrapper, if any: type
   * descriptor placeholder, VarUInt length of the annotation IDs, and the IDs as VarUInts.
   * Returns the wrapper's position, or -1.
   */
  private beginValue(): number {
    if (this.depth > 0 && this.frames[this.depth - 1]!.typeCode === TypeCode.struct) {
      if (!this.hasFieldName) {
        throw new Error('Cannot write a struct field value without fieldName() first');
      }
      this.hasFieldName = false;
    }
    const annotations = this.pendingAnnotations;
    if (annotations === null) return -1;
    this.pendingAnnotations = null;
    const ids = this.annotationIds;
    ids.length = 0;
    let idsLength = 0;
    for (const annotation of annotations) {
      const id = this.symbolId(annotation);
      ids.push(id);
      idsLength += varUIntSize(id);
    }
    const start = this.reserveHeader();
    this.output.writeVarUInt(idsLength);
    for (const id of ids) this.output.writeVarUInt(id);
    return start;
  }

  private endValue(annotationStart: number): void {
    if (annotationStart >= 0) this.output.finishHeader(annotationStart, TypeCode.annotation);
  }

  /** Writes `$ion_symbol_table::{symbols:[...local symbols]}` after the values. */
  private writeSymbolTable(): void {
    const output = this.output;
    const wrapperStart = this.reserveHeader();
    output.writeVarUInt(varUIntSize(SYMBOL_TABLE_SID));
    output.writeVarUInt(SYMBOL_TABLE_SID);
    const structStart = this.reserveHeader();
    output.writeVarUInt(SYMBOLS_SID);
    const listStart = this.reserveHeader();
    for (const text of this.localSymbols) {
      const start = this.reserveHeader();
      output.writeUtf8(text);
      output.finishHeader(start, TypeCode.string);
    }
    output.finishHeader(listStart, TypeCode.list);
    output.finishHeader(structStart, TypeCode.struct);
    output.finishHeader(wrapperStart, TypeCode.annotation);
  }
}
