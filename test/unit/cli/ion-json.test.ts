import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Decimal, load } from 'ion-js';
import { ionToJson } from '../../../src/cli/ion-json.js';

const json = (ion: string) => ionToJson(load(ion)!);

test('every Ion type down-converts to JSON without losing precision', () => {
  assert.equal(json('123456789012345678901234567890'), '123456789012345678901234567890');
  assert.equal(json('12.50'), '12.50');
  assert.equal(json('-0.0012'), '-0.0012');
  assert.equal(json('1.2345678901234567890123456789'), '1.2345678901234567890123456789');
  assert.equal(json('15d2'), '1500');
  assert.equal(json('1d40'), '1e40');
  assert.equal(json('[0d5, -0d2, 0.0d2, 5d3, -0d10, 0d40, -0.00]'), '[0,-0,0,5000,-0,0,-0.00]');
  assert.equal(json('1.5e0'), '1.5');
  assert.equal(json('+inf'), 'null');
  assert.equal(json('-0e0'), '-0');
  assert.equal(
    json('2021-06-01T10:00:00.000000001+02:00'),
    '"2021-06-01T10:00:00.000000001+02:00"',
  );
  assert.equal(json('2021-06T'), '"2021-06T"');
  assert.equal(json('sym'), '"sym"');
  assert.equal(json('{{aGVsbG8=}}'), '"aGVsbG8="');
  assert.equal(json('{{"hi"}}'), '"hi"');
  assert.equal(json('(a 1)'), '["a",1]');
  assert.equal(json('null.int'), 'null');
  assert.equal(json("{a: 1, 'b c': [true, null]}"), '{"a":1,"b c":[true,null]}');
  // The output is JSON.
  JSON.parse(json('{n: 12.50, t: 2021-06T, l: [1d40, -0.5]}'));
});

test('decimals keep their exact value', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }),
      fc.integer({ min: -40, max: 40 }),
      (coefficient, exponent) => {
        const original = load(`${coefficient}d${exponent}`)!.decimalValue()!;
        const written = ionToJson(load(`${coefficient}d${exponent}`)!);
        assert.ok(/^-?\d+(\.\d+)?(e-?\d+)?$/.test(written), written);
        const back = Decimal.parse(written.replace('e', 'd'))!;
        assert.equal(back.compareTo(original), 0, `${coefficient}d${exponent} gave ${written}`);
      },
    ),
  );
});

const NOT_NUMBERS = new Set(['nan', '+inf', '-inf']);

/** Write a float as Ion text, keeping the sign of zero, which `toExponential` drops. */
function floatText(float: number): string {
  if (Number.isNaN(float)) return 'nan';
  if (!Number.isFinite(float)) return float > 0 ? '+inf' : '-inf';
  if (Object.is(float, -0)) return '-0e0';
  return float.toExponential();
}

test('numbers print as equal JSON numbers', () => {
  // Zero and other short coefficients are drawn often: their padding is where output goes wrong.
  const coefficients = fc.oneof(
    fc.constant(0n),
    fc.bigInt({ min: 0n, max: 99n }),
    fc.bigInt({ min: 0n, max: 10n ** 40n }),
  );
  const decimal = fc
    .tuple(fc.boolean(), coefficients, fc.integer({ min: -60, max: 60 }))
    .map(([negative, coefficient, exponent]) => `${negative ? '-' : ''}${coefficient}d${exponent}`);
  const int = fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String);
  const float = fc.double().map(floatText);
  fc.assert(
    fc.property(fc.oneof(decimal, int, float), (ion) => {
      const written = ionToJson(load(ion)!);
      if (NOT_NUMBERS.has(ion)) {
        assert.equal(written, 'null', ion);
        return;
      }
      const expected = Number(ion.replace('d', 'e'));
      const parsed: unknown = JSON.parse(written);

      assert.ok(Object.is(parsed, expected), `${ion} gave ${written}, which parses to ${parsed}`);
    }),
    { numRuns: 2000 },
  );
});
