// Ion Hash 1.0 with SHA-256 for ion-js dom values and strings. QLDB hashes documents,
// transaction ids and statements this way.
import type { dom } from 'ion-js';

import { checkDomValue, checkString } from './argument-checks.js';
import { IonHashBuilder } from './ion-hash-builder.js';

const sharedBuilder = new IonHashBuilder();
let sharedBuilderInUse = false;

/** Runs `write` on the shared builder, or on a new one if a caller up the stack is using it. */
function withBuilder(write: (builder: IonHashBuilder) => void): Uint8Array {
  if (sharedBuilderInUse) {
    const builder = new IonHashBuilder();
    write(builder);
    return builder.digest();
  }
  sharedBuilderInUse = true;
  try {
    sharedBuilder.reset();
    write(sharedBuilder);
    return sharedBuilder.digest();
  } finally {
    sharedBuilderInUse = false;
  }
}

/** Returns the 32-byte Ion hash (SHA-256) of a dom value, annotations included. */
export function ionHash(value: dom.Value): Uint8Array {
  checkDomValue(value, 'value');
  return withBuilder((builder) => builder.value(value));
}

/**
 * Returns the Ion hash of the string as an Ion string value, which is
 * SHA-256(0x0B 0x80 escape(UTF-8 bytes) 0x0E).
 */
export function hashString(text: string): Uint8Array {
  checkString(text, 'text');
  return withBuilder((builder) => builder.string(text));
}

/**
 * Returns the Ion Hash serialization s(v) of a dom value computed with the identity function
 * in place of SHA-256, so that struct fields appear as their serialized bytes. This is the form
 * of the published Ion Hash test vectors.
 */
export function ionHashSerialization(value: dom.Value): Uint8Array {
  checkDomValue(value, 'value');
  return new IonHashBuilder((data) => Uint8Array.from(data)).value(value).digest();
}
