import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dom, load } from 'ion-js';
import { arithmetic } from '../../../src/engine/partiql/values.js';

/** Write `coefficient` times ten to `exponent` as exact Ion decimal text. */
function decimalText(coefficient: bigint, exponent: number): string {
  return `${coefficient}d${exponent}`;
}

/** Return a decimal's value in units of 10^-scale, as a bigint. */
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
      let expected: bigint;
      if (op === '+') expected = xs + ys;
      else if (op === '-') expected = xs - ys;
      else expected = (xs * ys) / 10n ** BigInt(unit);
      assert.equal(scaled(result, unit), expected, `${a} ${op} ${b} gave ${String(result)}`);
    }),
  );
});

test('decimal division rounds to 34 significant digits, half to even', () => {
  assert.equal(
    String(arithmetic('/', load('-11.51')!, load('3')!)),
    '-3.836666666666666666666666666666667',
  );
  assert.equal(String(arithmetic('/', load('7.0')!, load('2')!)), '3.5');
  // 2.5 at the last kept digit: to even.
  assert.equal(
    String(arithmetic('/', load(`${'1'.repeat(34)}5d0`)!, load('10.')!)),
    `${'1'.repeat(33)}2`,
  );
  const operand = fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n });
  fc.assert(
    fc.property(
      operand,
      operand.filter((q) => q !== 0n),
      fc.integer({ min: -5, max: 5 }),
      (p, q, e) => {
        const result = arithmetic('/', load(decimalText(p, e))!, load(decimalText(q, e))!);
        const decimal = result.decimalValue()!;
        const coefficient = decimal.getCoefficient();
        const exponent = decimal.getExponent();
        const size = (coefficient < 0n ? -coefficient : coefficient).toString().length;
        assert.ok(size <= 34, `${p}/${q} gave ${String(result)}, ${size} digits`);
        // |result - p/q| is at most half a unit in the last place: scaled by
        // 10^-exponent, |coefficient * q - p * 10^-exponent| * 2 <= |q|.
        const scale = exponent <= 0 ? 10n ** BigInt(-exponent) : 1n;
        const grow = exponent > 0 ? 10n ** BigInt(exponent) : 1n;
        const error = coefficient * q * grow - p * scale;
        const abs = (n: bigint) => (n < 0n ? -n : n);
        assert.ok(abs(error) * 2n <= abs(q) * grow, `${p}/${q} gave ${String(result)}`);
      },
    ),
  );
});
