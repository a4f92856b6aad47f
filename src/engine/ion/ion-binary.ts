// Ion 1.0 binary encoding of ion-js dom values. The bytes equal those of ion.dumpBinary except
// for timestamps whose fractional seconds ion-js rounds up (see timestamp-representation.ts).
// bench/ion.ts compares the speed of both.
import type { dom } from 'ion-js';

import { checkDomValue } from './argument-checks.js';
import { IonBinaryWriter } from './ion-binary-writer.js';
import { sharedInstance } from './shared-instance.js';

const withWriter = sharedInstance(() => new IonBinaryWriter());

/**
 * Encodes one dom value, annotations included, as a complete Ion 1.0 binary stream: the
 * version marker E0 01 00 EA, a local symbol table when the value uses symbols beyond the
 * system ones, then the value. `ion.load` of the result returns an equal value.
 * @throws RangeError for a string or symbol with an unpaired surrogate, and for a top-level
 *   value that readers take as a system value: the symbol $ion_1_0, or a struct whose first
 *   annotation is $ion_symbol_table.
 */
export function encodeIonBinary(value: dom.Value): Uint8Array {
  checkDomValue(value, 'value');
  return withWriter((writer) => {
    writer.reset();
    return writer.value(value).finish();
  });
}
