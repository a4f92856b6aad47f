import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dom, load } from 'ion-js';
import { arithmetic } from '../../../src/engine/partiql/values.js';

/** An exact decimal as Ion text, `coefficient` times ten to `exponent`. */
function decimalText(coefficient: bigint, exponent: number): string {
  return `${coefficient}d${exponent}`;
}

/** The value of a decimal as a fraction `coefficient / 10^scale`, scaled to `scale`. */
function scaled(value: dom.Value, scale: number): bigint {
  const decimal = value.decimalValue()!;
  const coefficient = decimal.getCoefficient();
  const shift = decimal.getExponent() + scale;
  assert.ok(shift >= 0, `exponent ${decimal.getExponent()} is finer than ${-scale}`);
  return coefficient * 10n ** BigInt(shift);
}

test('decimal arithmetic keeps the sign and the exact value', () => {
  const operand = fc.record({
    coefficient: fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
    exponent: fc.integer({ min: -6, max: 3 }),
  });
  fc.assert(
    fc.property(operand, operand, fc.constantFrom('+', '-', '*'), (x, y, op) => {
      const a = load(decimalText(x.coefficient, x.exponent))!;
      const b = load(decimalText(y.coefficient, y.exponent))!;
      const result = arithmetic(op, a, b);
      // Work in units of 10^-12, fine enough for every product here.
      const unit = 12;
      const xs = x.coefficient * 10n ** BigInt(x.exponent + unit);
      const ys = y.coefficient * 10n ** BigInt(y.exponent + unit);
      const expected =
        op === '+' ? xs + ys : op === '-' ? xs - ys : (xs * ys) / 10n ** BigInt(unit);
      assert.equal(scaled(result, unit), expected, `${a} ${op} ${b} gave ${String(result)}`);
    }),
  );
});
