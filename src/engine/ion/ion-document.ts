// The Ion binary and Ion hash of a document from one walk of its dom value.
// Every method call on an ion-js struct goes through a Proxy, so the engine
// walks each written document once instead of twice.
import type { Decimal, Timestamp, dom } from 'ion-js';

import { checkDomValue } from './argument-checks.js';
import { IonBinaryWriter } from './ion-binary-writer.js';
import { IonHashBuilder } from './ion-hash-builder.js';
import type { ContainerType, IonTypeName, IonValueWriter } from './ion-value-writer.js';
import { writeDomValue } from './ion-value-writer.js';
import { writeJsDocument, type FieldObserver } from './js-value.js';
import { sharedInstance } from './shared-instance.js';

/** Forwards every write to a binary writer and a hash builder. */
class BinaryAndHashWriter implements IonValueWriter {
  constructor(
    readonly binary: IonBinaryWriter,
    readonly hash: IonHashBuilder,
  ) {}

  annotate(annotations: readonly string[]): this {
    this.binary.annotate(annotations);
    this.hash.annotate(annotations);
    return this;
  }

  fieldName(name: string): this {
    this.binary.fieldName(name);
    this.hash.fieldName(name);
    return this;
  }

  null(type?: IonTypeName): this {
    this.binary.null(type);
    this.hash.null(type);
    return this;
  }

  bool(value: boolean): this {
    this.binary.bool(value);
    this.hash.bool(value);
    return this;
  }

  int(value: number | bigint): this {
    this.binary.int(value);
    this.hash.int(value);
    return this;
  }

  float(value: number): this {
    this.binary.float(value);
    this.hash.float(value);
    return this;
  }

  decimal(value: Decimal): this {
    this.binary.decimal(value);
    this.hash.decimal(value);
    return this;
  }

  timestamp(value: Timestamp | Date): this {
    this.binary.timestamp(value);
    this.hash.timestamp(value);
    return this;
  }

  string(value: string): this {
    this.binary.string(value);
    this.hash.string(value);
    return this;
  }

  symbol(text: string): this {
    this.binary.symbol(text);
    this.hash.symbol(text);
    return this;
  }

  blob(bytes: Uint8Array): this {
    this.binary.blob(bytes);
    this.hash.blob(bytes);
    return this;
  }

  clob(bytes: Uint8Array): this {
    this.binary.clob(bytes);
    this.hash.clob(bytes);
    return this;
  }

  stepIn(type: ContainerType): this {
    this.binary.stepIn(type);
    this.hash.stepIn(type);
    return this;
  }

  stepOut(): this {
    this.binary.stepOut();
    this.hash.stepOut();
    return this;
  }

  value(value: dom.Value): this {
    checkDomValue(value, 'value');
    writeDomValue(this, value);
    return this;
  }
}

const withWriter = sharedInstance(
  () => new BinaryAndHashWriter(new IonBinaryWriter(), new IonHashBuilder()),
);

/**
 * Returns the Ion binary stream of a dom value, as `encodeIonBinary` does,
 * and its Ion hash, as `ionHash` does.
 */
export function encodeAndHash(value: dom.Value): { binary: Uint8Array; hash: Uint8Array } {
  checkDomValue(value, 'value');
  return encodeAndHashWith((writer) => writeDomValue(writer, value));
}

/**
 * Return the Ion binary and Ion hash of a plain-object document, equal to
 * those of `dom.Value.from(document)` without building the dom value. Each
 * top-level field goes to `observe` as it is read; past `maxValues` values
 * the walk stops with `JsValueLimitError`.
 */
export function encodeAndHashJs(
  document: object,
  observe?: FieldObserver,
  maxValues?: number,
): { binary: Uint8Array; hash: Uint8Array } {
  return encodeAndHashWith((writer) => writeJsDocument(writer, document, observe, maxValues));
}

/** Run one walk through the shared writer and return the binary and hash it wrote. */
function encodeAndHashWith(write: (writer: BinaryAndHashWriter) => void): {
  binary: Uint8Array;
  hash: Uint8Array;
} {
  return withWriter((writer) => {
    writer.binary.reset();
    writer.hash.reset();
    write(writer);
    return { binary: writer.binary.finish(), hash: writer.hash.digest() };
  });
}
