import { dom, IonTypes } from 'ion-js';
import type { IndexEntry } from '../../storage/store.js';
import { ionHash } from '../ion/index.js';
import type { LedgerCipher, LedgerKeyring } from '../keyring/ledger-cipher.js';
import type { IndexDefinition } from './catalog.js';

/**
 * Return the bytes an index MACs for a value: its equality key, or for indexes
 * made before keys followed PartiQL's =, the Ion Hash, which keeps exact
 * Ion equality (1 and 1.0 are different keys there).
 */
export function indexKeyBytes(index: IndexDefinition, value: dom.Value): Uint8Array {
  return index.keys === 'equality' ? Buffer.from(equalityKey(value), 'utf8') : ionHash(value);
}

/** Return the index entry of a value under one data key. */
export function indexEntryOf(
  index: IndexDefinition,
  value: dom.Value,
  cipher: LedgerCipher | LedgerKeyring,
): IndexEntry {
  return {
    indexId: index.indexId,
    keyMac: cipher.mac(index.indexId, indexKeyBytes(index, value)),
    generation: cipher.generation,
  };
}

/** Return the value's entries under every data key in the keyring, the current key's first. */
export function indexEntriesOf(
  index: IndexDefinition,
  value: dom.Value,
  keyring: LedgerKeyring,
): IndexEntry[] {
  const key = indexKeyBytes(index, value);
  return keyring
    .macs(index.indexId, key)
    .map(({ generation, mac }) => ({ indexId: index.indexId, keyMac: mac, generation }));
}

/**
 * The key of a value in an index whose keys follow PartiQL's `=`: values
 * that `=` finds equal get the same key. Numbers compare by value across
 * int, decimal and float, so 1, 1.0 and 1e0 are one key. Strings and symbols
 * compare by their text, and timestamps by the instant, whatever their
 * precision or offset. Lists, s-expressions and structs compare element by
 * element, struct fields in any order. Annotations are ignored. NaN gets a key of its own,
 * although `=` never holds for it, so a lookup of NaN must be re-checked.
 */
export function equalityKey(value: dom.Value): string {
  if (value.isNull()) return 'null';
  const type = value.getType();
  switch (type) {
    case IonTypes.BOOL:
      return value.booleanValue() ? 'true' : 'false';
    case IonTypes.INT:
      return numberKey(value.bigIntValue()!, 0);
    case IonTypes.DECIMAL: {
      const decimal = value.decimalValue()!;
      return numberKey(decimal.getCoefficient(), decimal.getExponent());
    }
    case IonTypes.FLOAT:
      return floatKey(value.numberValue()!);
    case IonTypes.STRING:
    case IonTypes.SYMBOL:
      return `s${JSON.stringify(value.stringValue())}`;
    case IonTypes.TIMESTAMP: {
      const timestamp = value.timestampValue()!;
      // Offsets are whole minutes, so the UTC minute and the seconds within it fix the instant.
      const minute = Math.floor(timestamp.getDate().getTime() / 60_000);
      const seconds = timestamp.getSecondsDecimal();
      return `t${minute}:${numberKey(seconds.getCoefficient(), seconds.getExponent())}`;
    }
    case IonTypes.BLOB:
    case IonTypes.CLOB:
      return `${type === IonTypes.BLOB ? 'B' : 'C'}${Buffer.from(value.uInt8ArrayValue()!).toString('base64')}`;
    case IonTypes.LIST:
      return `[${value.elements().map(equalityKey).join(',')}]`;
    case IonTypes.SEXP:
      return `(${value.elements().map(equalityKey).join(',')})`;
    case IonTypes.STRUCT:
      return `{${value
        .fields()
        .map(([name, item]) => `${JSON.stringify(name)}:${equalityKey(item)}`)
        .sort()
        .join(',')}}`;
    default:
      return `${type.name}?`;
  }
}

/** Write a number `coefficient * 10^exponent` with trailing zeros moved into the exponent. */
function numberKey(coefficient: bigint, exponent: number): string {
  if (coefficient === 0n) return 'n0';
  while (coefficient % 10n === 0n) {
    coefficient /= 10n;
    exponent++;
  }
  return `n${coefficient}e${exponent}`;
}

/** Write a float in its shortest decimal form, the exact number that `=` compares it as. */
function floatKey(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'n+inf' : 'n-inf';
  if (value === 0) return 'n0';
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(value))!;
  const [, sign, whole, fraction = '', power = '0'] = match;
  const coefficient = BigInt(`${sign}${whole}${fraction}`);
  return numberKey(coefficient, Number(power) - fraction.length);
}
