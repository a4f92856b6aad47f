// fast-check arbitraries for ion-js dom values of every Ion type. They cover typed nulls, big
// and negative ints, floats with NaN, infinities and -0, and decimals with negative zero and
// large exponents. Timestamps come in every precision and offset, text contains the Ion Hash
// marker bytes, and containers nest with annotations and duplicate struct fields.
import fc from 'fast-check';
import * as ion from 'ion-js';

const { dom } = ion;

/**
 * Text for strings, symbols, field names and annotations. It includes the Ion Hash marker
 * bytes 0x0B, 0x0C and 0x0E, non-BMP characters, and system symbol texts. The texts
 * $ion_symbol_table and $ion_1_0 are left out: at top level a reader takes a value annotated
 * with the first or the symbol itself as a system value, not as data.
 */
export const ionText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.string({
    unit: fc.constantFrom('\x0b', '\x0c', '\x0e', '\x00', 'a', 'Z', ' ', 'é', '€', '😀', '$'),
    maxLength: 8,
  }),
  fc.constantFrom(
    '',
    'name',
    'version',
    'imports',
    'symbols',
    'max_id',
    '$ion',
    '$ion_shared_symbol_table',
  ),
);

const annotations = fc.oneof(
  { weight: 3, arbitrary: fc.constant<string[]>([]) },
  { weight: 1, arbitrary: fc.array(ionText, { minLength: 1, maxLength: 3 }) },
);

const ION_TYPES = Object.values(ion.IonTypes);

const nullValue = fc
  .tuple(fc.constantFrom(...ION_TYPES), annotations)
  .map(([type, names]) => new dom.Null(type, names));

const boolValue = fc
  .tuple(fc.boolean(), annotations)
  .map(([value, names]) => new dom.Boolean(value, names));

const intValue = fc
  .tuple(
    fc.oneof(
      fc.integer(),
      fc.maxSafeInteger(),
      fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
      fc.constantFrom<number | bigint>(0, -0, 255, 256, -256, 2 ** 53, -(2 ** 64), 1e21, 2n ** 63n),
    ),
    annotations,
  )
  .map(([value, names]) => new dom.Integer(value, names));

const floatValue = fc
  .tuple(
    fc.oneof(fc.double(), fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 5e-324)),
    annotations,
  )
  .map(([value, names]) => new dom.Float(value, names));

const decimalValue = fc
  .tuple(
    fc.oneof(fc.bigInt({ min: 0n, max: 1000n }), fc.bigInt({ min: 0n, max: 10n ** 40n })),
    fc.oneof(fc.integer({ min: -20, max: 20 }), fc.integer({ min: -5000, max: 5000 })),
    fc.boolean(),
    annotations,
  )
  .map(
    ([magnitude, exponent, negative, names]) =>
      new dom.Decimal(new ion.Decimal(magnitude, exponent, negative), names),
  );

/**
 * Timestamps of every precision. Days stop at 28 so that every month accepts them. Offsets
 * apply from minute precision, as in Ion. Fractions that ion-js 5 rounds up to a whole second
 * are left out: its getDate() then carries into the next minute, so ion-js and ion-hash-js
 * output a different instant (the encoder's own test covers that case).
 */
const ionTimestamp = fc
  .record({
    precision: fc.integer({ min: 1, max: 6 }),
    year: fc.integer({ min: 2, max: 9998 }),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 28 }),
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
    second: fc.integer({ min: 0, max: 59 }),
    fractionDigits: fc.integer({ min: 0, max: 12 }),
    fraction: fc.bigInt({ min: 0n, max: 10n ** 12n - 1n }),
    offset: fc.oneof(fc.constant(-0), fc.constant(0), fc.integer({ min: -1439, max: 1439 })),
  })
  .filter(({ fractionDigits, fraction }) => {
    const scale = 10n ** BigInt(fractionDigits);
    return (fraction % scale) * 1000n < 999n * scale;
  })
  .map((fields) => {
    const { precision, year, month, day, hour, minute, second, fractionDigits, offset } = fields;
    const offsetOrUnknown = precision >= ion.TimestampPrecision.HOUR_AND_MINUTE ? offset : -0;
    switch (precision) {
      case 1:
        return new ion.Timestamp(offsetOrUnknown, year);
      case 2:
        return new ion.Timestamp(offsetOrUnknown, year, month);
      case 3:
        return new ion.Timestamp(offsetOrUnknown, year, month, day);
      case 4:
        return new ion.Timestamp(offsetOrUnknown, year, month, day, hour, minute);
      case 5:
        return new ion.Timestamp(offsetOrUnknown, year, month, day, hour, minute, second);
      default: {
        const scale = 10n ** BigInt(fractionDigits);
        const coefficient = BigInt(second) * scale + (fields.fraction % scale);
        const seconds = new ion.Decimal(coefficient, -fractionDigits);
        return new ion.Timestamp(offsetOrUnknown, year, month, day, hour, minute, seconds);
      }
    }
  });

const timestampValue = fc.oneof(
  fc.tuple(ionTimestamp, annotations).map(([value, names]) => new dom.Timestamp(value, names)),
  fc
    .tuple(fc.integer({ min: Date.UTC(1, 0, 1) + 1, max: Date.UTC(9999, 11, 31) }), annotations)
    .map(([time, names]) => new dom.Timestamp(new Date(time), names)),
);

const stringValue = fc
  .tuple(ionText, annotations)
  .map(([text, names]) => new dom.String(text, names));
const symbolValue = fc
  .tuple(ionText, annotations)
  .map(([text, names]) => new dom.Symbol(text, names));
const blobValue = fc
  .tuple(fc.uint8Array({ maxLength: 40 }), annotations)
  .map(([bytes, names]) => new dom.Blob(bytes, names));
const clobValue = fc
  .tuple(fc.uint8Array({ maxLength: 40 }), annotations)
  .map(([bytes, names]) => new dom.Clob(bytes, names));

export const scalarValue: fc.Arbitrary<ion.dom.Value> = fc.oneof(
  nullValue,
  boolValue,
  intValue,
  floatValue,
  decimalValue,
  timestampValue,
  stringValue,
  symbolValue,
  blobValue,
  clobValue,
);

/** Builds a dom.Struct keeping every field, duplicates included, in first-appearance order. */
function makeStruct(fields: [string, ion.dom.Value][], names: string[]): ion.dom.Value {
  const grouped = new Map<string, ion.dom.Value[]>();
  for (const [name, value] of fields) {
    const values = grouped.get(name);
    if (values === undefined) grouped.set(name, [value]);
    else values.push(value);
  }
  return new dom.Struct(grouped.entries(), names);
}

const fieldName = fc.oneof(ionText, fc.constantFrom('a', 'b', 'id'));

/** Makes fast-check print a failing value as Ion text, because it cannot print dom containers. */
function printable(value: ion.dom.Value): ion.dom.Value {
  Object.defineProperty(value, fc.toStringMethod, { value: () => ion.dumpText(value) });
  return value;
}

/** Any Ion value, containers nested up to four levels. */
export const ionValue: fc.Arbitrary<ion.dom.Value> = fc
  .letrec<{
    value: ion.dom.Value;
    list: ion.dom.Value;
    sexp: ion.dom.Value;
    struct: ion.dom.Value;
  }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth: 4 },
      scalarValue,
      tie('list'),
      tie('sexp'),
      tie('struct'),
    ),
    list: fc
      .tuple(fc.array(tie('value'), { maxLength: 5 }), annotations)
      .map(([children, names]) => new dom.List(children, names)),
    sexp: fc
      .tuple(fc.array(tie('value'), { maxLength: 5 }), annotations)
      .map(([children, names]) => new dom.SExpression(children, names)),
    struct: fc
      .tuple(fc.array(fc.tuple(fieldName, tie('value')), { maxLength: 6 }), annotations)
      .map(([fields, names]) => makeStruct(fields, names)),
  }))
  .value.map(printable);
