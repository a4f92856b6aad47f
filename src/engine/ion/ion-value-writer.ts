// The streaming interface shared by the Ion Hash builder and the binary writer, and the walk
// that writes an ion-js dom value through it.
import type { Decimal, Timestamp, dom } from 'ion-js';

import { TypeCode } from './scalar-representation.js';

export type ContainerType = 'struct' | 'list' | 'sexp';

/** Names of the Ion types, as ion-js spells them in `IonType.name`. */
export type IonTypeName =
  | 'null'
  | 'bool'
  | 'int'
  | 'float'
  | 'decimal'
  | 'timestamp'
  | 'symbol'
  | 'string'
  | 'clob'
  | 'blob'
  | 'list'
  | 'sexp'
  | 'struct';

/** Type codes of containers, keyed by container type. */
export const CONTAINER_TYPE_CODES: Readonly<Record<ContainerType, number>> = {
  struct: TypeCode.struct,
  list: TypeCode.list,
  sexp: TypeCode.sexp,
};

/** Type codes of typed nulls, keyed by Ion type name. */
export const NULL_TYPE_CODES: Readonly<Record<IonTypeName, number>> = {
  null: TypeCode.null,
  bool: TypeCode.bool,
  int: TypeCode.positiveInt,
  float: TypeCode.float,
  decimal: TypeCode.decimal,
  timestamp: TypeCode.timestamp,
  symbol: TypeCode.symbol,
  string: TypeCode.string,
  clob: TypeCode.clob,
  blob: TypeCode.blob,
  list: TypeCode.list,
  sexp: TypeCode.sexp,
  struct: TypeCode.struct,
};

/**
 * Writes Ion values one event at a time, like an ion-js Writer. Inside a struct, each value
 * follows a `fieldName` call. `annotate` applies to the next value only.
 */
export interface IonValueWriter {
  annotate(annotations: readonly string[]): this;
  fieldName(name: string): this;
  /** Writes a null of the given type, by default the untyped `null`. */
  null(type?: IonTypeName): this;
  bool(value: boolean): this;
  int(value: number | bigint): this;
  /** Writes a 64-bit float. */
  float(value: number): this;
  decimal(value: Decimal): this;
  /** Writes an ion-js Timestamp as given, or a Date at millisecond precision and offset +00:00. */
  timestamp(value: Timestamp | Date): this;
  string(value: string): this;
  symbol(text: string): this;
  blob(bytes: Uint8Array): this;
  clob(bytes: Uint8Array): this;
  stepIn(type: ContainerType): this;
  stepOut(): this;
  /** Writes an ion-js dom value with its annotations. */
  value(value: dom.Value): this;
}

/** Writes a dom value, its annotations and, for containers, all children in order. */
export function writeDomValue(writer: IonValueWriter, value: dom.Value): void {
  const annotations = value.getAnnotations();
  if (annotations.length > 0) writer.annotate(annotations);
  const type = value.getType();
  if (value.isNull()) {
    writer.null(type.name as IonTypeName);
    return;
  }
  switch (type.binaryTypeId) {
    case TypeCode.bool:
      writer.bool(value.booleanValue() as boolean);
      return;
    case TypeCode.positiveInt: {
      // numberValue() is exact whenever it is a safe integer, and bigIntValue() always is.
      const number = value.numberValue() as number;
      writer.int(Number.isSafeInteger(number) ? number : (value.bigIntValue() as bigint));
      return;
    }
    case TypeCode.float:
      writer.float(value.numberValue() as number);
      return;
    case TypeCode.decimal:
      writer.decimal(value.decimalValue() as Decimal);
      return;
    case TypeCode.timestamp:
      writer.timestamp(value.timestampValue() as Timestamp);
      return;
    case TypeCode.symbol:
      writer.symbol(value.stringValue() as string);
      return;
    case TypeCode.string:
      writer.string(value.stringValue() as string);
      return;
    case TypeCode.clob:
      writer.clob(value.uInt8ArrayValue() as Uint8Array);
      return;
    case TypeCode.blob:
      writer.blob(value.uInt8ArrayValue() as Uint8Array);
      return;
    case TypeCode.list:
    case TypeCode.sexp:
      writer.stepIn(type.binaryTypeId === TypeCode.list ? 'list' : 'sexp');
      for (const child of value.elements()) writeDomValue(writer, child);
      writer.stepOut();
      return;
    case TypeCode.struct:
      writer.stepIn('struct');
      for (const [name, children] of value.allFields()) {
        for (const child of children) {
          writer.fieldName(name);
          writeDomValue(writer, child);
        }
      }
      writer.stepOut();
      return;
    default:
      throw new TypeError(`Invalid value: unsupported Ion type ${type.name}`);
  }
}
