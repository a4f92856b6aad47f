import { test } from 'node:test';
import assert from 'node:assert/strict';

import { sharedInstance } from '../../../src/engine/ion/shared-instance.js';

test('shared instance is reused', () => {
  let created = 0;
  const withInstance = sharedInstance(() => ({ id: ++created }));
  assert.equal(
    withInstance((instance) => instance.id),
    1,
  );
  assert.equal(
    withInstance((instance) => instance.id),
    1,
  );
  assert.equal(created, 1);
});

test('nested use gets a new instance', () => {
  let created = 0;
  const withInstance = sharedInstance(() => ({ id: ++created }));
  const ids = withInstance((outer) => [outer.id, withInstance((inner) => inner.id)]);
  assert.deepEqual(ids, [1, 2]);
  assert.equal(
    withInstance((instance) => instance.id),
    1,
  );
});

test('shared instance is free after a throw', () => {
  let created = 0;
  const withInstance = sharedInstance(() => ({ id: ++created }));
  assert.throws(
    () =>
      withInstance(() => {
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.equal(
    withInstance((instance) => instance.id),
    1,
  );
  assert.equal(created, 1);
});
