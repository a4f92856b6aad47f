import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IonHashBuilder, ionHash } from '../../../src/engine/ion/index.js';
import { ionValue } from './ion-value-arbitrary.js';

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

test('precomputed serialization matches', () => {
  fc.assert(
    fc.property(ionValue, fc.string(), fc.boolean(), (value, name, wrap) => {
      // An annotation given before a dom value that has its own would be replaced by them.
      const annotated = wrap && value.getAnnotations().length === 0;
      const direct = new IonHashBuilder().stepIn('struct').fieldName(name);
      if (annotated) direct.annotate(['a']);
      direct.value(value).stepOut();

      const helper = new IonHashBuilder();
      const serialization = helper.computeSerialization((b) => b.value(value));
      // Reusing the helper must not change a serialization it returned earlier.
      helper.computeSerialization((b) => b.string('overwrites the buffer'.repeat(4)));
      const viaSerialization = new IonHashBuilder().stepIn('struct').fieldName(name);
      if (annotated) viaSerialization.annotate(['a']);
      viaSerialization.serializedValue(serialization).stepOut();

      assert.deepEqual(viaSerialization.digest(), direct.digest());
      assert.deepEqual(
        new IonHashBuilder().serializedValue(serialization).digest(),
        ionHash(value),
      );
    }),
    { numRuns: 300 },
  );
});

test('serialization of no value fails', () => {
  const builder = new IonHashBuilder();
  assert.throws(() => builder.computeSerialization(() => {}), /exactly one complete value/);
  assert.throws(
    () => builder.computeSerialization((b) => b.stepIn('list')),
    /exactly one complete value/,
  );
  assert.deepEqual(
    builder.serializedValue(builder.computeSerialization((b) => b.int(7))).digest(),
    new IonHashBuilder().int(7).digest(),
  );
});
