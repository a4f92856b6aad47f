// Ion Hash 1.0 with SHA-256 for ion-js dom values and strings. QLDB hashes documents,
// transaction ids and statements this way.
import type { dom } from 'ion-js';

import { checkDomValue, checkString } from './argument-checks.js';
import { IonHashBuilder } from './ion-hash-builder.js';
import { sharedInstance } from './shared-instance.js';

const withSharedBuilder = sharedInstance(() => new IonHashBuilder());

/** Runs `write` on a reset builder and returns the digest of what it wrote. */
function withBuilder(write: (builder: IonHashBuilder) => void): Uint8Array {
  return withSharedBuilder((builder) => {
    builder.reset();
    write(builder);
    return builder.digest();
  });
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
