import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IonHashBuilder } from '../../../src/engine/ion/index.js';

test('precomputed field hash matches', () => {
  fc.assert(
    fc.property(fc.string(), fc.string(), fc.string(), (name, value, other) => {
      const direct = new IonHashBuilder();
      direct
        .stepIn('struct')
        .fieldName(name)
        .string(value)
        .fieldName('other')
        .string(other)
        .stepOut();

      const helper = new IonHashBuilder();
      const fieldHash = helper.computeFieldHash(name, (b) => b.string(value));
      const viaHash = new IonHashBuilder();
      viaHash.stepIn('struct').fieldHash(fieldHash).fieldName('other').string(other).stepOut();

      assert.deepEqual(viaHash.digest(), direct.digest());
    }),
    { numRuns: 300 },
  );
});

test('field hash outside a struct fails', () => {
  const builder = new IonHashBuilder();
  assert.throws(() => builder.fieldHash(new Uint8Array(32)), /outside a struct/);
  builder.stepIn('list');
  assert.throws(() => builder.fieldHash(new Uint8Array(32)), /outside a struct/);
  builder.reset();
  builder.stepIn('struct').fieldName('a');
  assert.throws(() => builder.fieldHash(new Uint8Array(32)), /previous field has no value/);
});
