import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { load, type dom } from 'ion-js';
import { equalityKey } from '../../../src/engine/ledger/index-key.js';
import { valuesEqual } from '../../../src/engine/partiql/values.js';

const ion = (text: string): dom.Value => load(text)!;

test('equal values of different representation share a key', () => {
  const groups = [
    ['1', '1.0', '1.000', '1e0', '10e-1', '1d0'],
    ['-0.5', '-5e-1', '-0.50'],
    ['0', '0.0', '-0.0', '0e0', '-0e0'],
    ['"abc"', 'abc', "'abc'"],
    ['2024-01-01T', '2024-01-01T00:00Z', '2024-01-01T00:00:00.000Z', '2024-01-01T01:00+01:00'],
    ['[1, "a"]', '[1.0, a]'],
    ['{a: 1, b: 2}', '{b: 2.0, a: 1}', 'x::{a: 1, b: 2}'],
  ];
  for (const group of groups) {
    const keys = new Set(group.map((text) => equalityKey(ion(text))));
    assert.equal(keys.size, 1, `${group.join(' ')} gave ${[...keys].join(' | ')}`);
  }
  const distinct = [
    '1',
    '2',
    '"1"',
    'true',
    '[1]',
    '(1)',
    '{a: 1}',
    '2024-01-01T00:00:01Z',
    '{{AQ==}}',
    '{{"\\x01"}}',
  ];
  assert.equal(new Set(distinct.map((text) => equalityKey(ion(text)))).size, distinct.length);
});

const numberText = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }).map(String),
  fc
    .tuple(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 0, max: 4 }))
    .map(([n, places]) => (n / 10 ** places).toFixed(places + 1)),
  fc.integer({ min: -1000, max: 1000 }).map((n) => `${n / 4}e0`),
);

test('keys agree with = on random numbers', () => {
  fc.assert(
    fc.property(numberText, numberText, (a, b) => {
      const x = ion(a);
      const y = ion(b);
      assert.equal(equalityKey(x) === equalityKey(y), valuesEqual(x, y), `${a} and ${b}`);
    }),
    { numRuns: 2000 },
  );
});
