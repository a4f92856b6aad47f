// Plain JavaScript documents must encode and hash exactly as the dom values
// that `dom.Value.from` makes of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import fc from 'fast-check';
import { Decimal, Timestamp, dom } from 'ion-js';

import {
  JsValueError,
  MAX_JS_VALUE_DEPTH,
  describeJsValue,
  encodeAndHash,
  encodeAndHashJs,
  isDocumentObject,
} from '../../../src/engine/ion/index.js';

const leaf = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.bigInt(),
  fc.date({
    noInvalidDate: true,
    min: new Date('0001-01-01T00:00:00.000Z'),
    max: new Date('9999-12-31T23:59:59.999Z'),
  }),
  fc.uint8Array({ maxLength: 8 }),
  fc.constantFrom(-0, 2 ** 53, 2 ** 60, -(2 ** 70), 1e300, Number.NaN, -Infinity),
);

const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.array(tie('tree'), { maxLength: 4 }),
    // ion-js cannot convert objects without a prototype, so none are made here.
    fc.dictionary(fc.string(), tie('tree'), { maxKeys: 4, noNullPrototype: true }),
  ),
}));

const documentArb = fc.dictionary(fc.string(), tree, { maxKeys: 6, noNullPrototype: true });

function assertSameAsDom(value: object): void {
  const plain = encodeAndHashJs(value);
  const viaDom = encodeAndHash(dom.Value.from(value));
  assert.deepEqual(Buffer.from(plain.binary), Buffer.from(viaDom.binary));
  assert.deepEqual(Buffer.from(plain.hash), Buffer.from(viaDom.hash));
}

test('random objects encode as dom.Value.from', () => {
  fc.assert(fc.property(documentArb, assertSameAsDom), { numRuns: 3000 });
});

test('special values encode as dom.Value.from', () => {
  const cases: object[] = [
    { boxed: [new Number(1.5), new String('s'), new Boolean(false), Object(7n)] },
    {
      decimal: new Decimal('12.3400'),
      timestamp: Timestamp.parse('2026-12-05T06:00:00.123-08:00'),
    },
    { nested: dom.Value.from({ a: [1, 'two'] }), text: dom.Value.from('x') },
    { empty: {}, list: [], blob: new Uint8Array([97, 98, 99]) },
  ];
  for (const value of cases) assertSameAsDom(value);
});

test('Buffer encodes as a blob', () => {
  const fromBuffer = encodeAndHashJs({ blob: Buffer.from('abc') });
  const fromBytes = encodeAndHashJs({ blob: new Uint8Array([97, 98, 99]) });
  assert.deepEqual(fromBuffer, fromBytes);
});

test('invalid values name their path', () => {
  assert.throws(() => encodeAndHashJs({ a: { b: [1, undefined] } }), {
    name: 'JsValueError',
    message: /at a\.b\[1\] is undefined.*use null or leave the field out/,
  });
  assert.throws(() => encodeAndHashJs({ f: () => 1 }), {
    name: 'JsValueError',
    message: /at f is a function/,
  });
  assert.throws(() => encodeAndHashJs({ s: Symbol('s') }), JsValueError);
  assert.throws(() => encodeAndHashJs({ d: new Date(Number.NaN) }), {
    message: /at d is an invalid Date/,
  });
  assert.throws(() => encodeAndHashJs({ a: { when: new Date('+010000-01-01T00:00:00Z') } }), {
    message: /at a\.when is a Date that Ion cannot hold: .*year from 1 to 9999/,
  });
  assert.throws(() => encodeAndHashJs({ s: 'a\ud800b' }), { message: /at s is an invalid string/ });
  assert.throws(() => encodeAndHashJs({ 'odd name': { '': undefined } }), {
    message: /at \["odd name"\]\[""\] is undefined/,
  });
});

test('holes, cycles and lossy objects are rejected', () => {
  // eslint-disable-next-line no-sparse-arrays
  assert.throws(() => encodeAndHashJs({ v: [1, , 3] }), { message: /at v\[1\] is undefined/ });

  const cycle: Record<string, unknown> = { name: 'loop' };
  cycle.self = { again: cycle };
  assert.throws(() => encodeAndHashJs(cycle), {
    name: 'JsValueError',
    message: new RegExp(`nested more than ${MAX_JS_VALUE_DEPTH} .*contains itself`),
  });
  let deep: unknown = 1;
  for (let i = 0; i < MAX_JS_VALUE_DEPTH; i++) deep = [deep];
  assert.throws(() => encodeAndHashJs({ deep }), JsValueError);

  class Point {
    constructor(readonly x: number) {}
  }
  const lossy: Array<[unknown, string]> = [
    [new Map([['a', 1]]), 'a Map'],
    [new Set([1]), 'a Set'],
    [/x/, 'a RegExp'],
    [new Int16Array([1, 2]), 'an Int16Array'],
    [new ArrayBuffer(2), 'an ArrayBuffer'],
    [new Error('e'), 'an Error'],
    [new URL('http://127.0.0.1/'), 'a URL'],
    [new Point(1), 'a Point'],
  ];
  for (const [value, kind] of lossy) {
    assert.throws(() => encodeAndHashJs({ field: value }), {
      message: new RegExp(`at field is ${kind}, not a plain object`),
    });
    assert.equal(isDocumentObject(value), false, kind);
  }
  // A dom value of another ion-js copy fails instanceof; it is named, not written as its internals.
  const foreign = { getType: () => undefined, getAnnotations: () => [] };
  Object.setPrototypeOf(foreign, { constructor: { name: 'Struct' } });
  assert.throws(() => encodeAndHashJs({ field: foreign }), {
    message: /at field is an ion-js value from another copy of ion-js/,
  });
});

test('value limit stops shared subobjects early', () => {
  let shared: object = { leaf: 1 };
  for (let i = 0; i < 30; i++) shared = { l: shared, r: shared };
  // Written out in full, this would be 2^30 leaves.
  assert.throws(() => encodeAndHashJs(shared, undefined, 10_000), {
    name: 'JsValueLimitError',
    message: /more than 10000 values/,
  });
});

test('observer sees each top-level field once', () => {
  const seen: Array<[string, unknown]> = [];
  let reads = 0;
  const document = {
    plain: 1,
    get counted() {
      reads += 1;
      return reads;
    },
  };
  const { binary } = encodeAndHashJs(document, (name, value) => seen.push([name, value]));
  assert.equal(reads, 1);
  assert.deepEqual(seen, [
    ['plain', 1],
    ['counted', 1],
  ]);
  assert.deepEqual(
    Buffer.from(binary),
    Buffer.from(encodeAndHashJs({ plain: 1, counted: 1 }).binary),
  );
});

test('values are described by kind', () => {
  assert.equal(describeJsValue(new Date()), 'a Date');
  assert.equal(describeJsValue([1]), 'an array');
  assert.equal(describeJsValue(new Map()), 'a Map');
  assert.equal(describeJsValue(null), 'null');
  assert.equal(describeJsValue('text'), 'a string');
});

test('only struct-like objects are documents', () => {
  assert.equal(isDocumentObject({ a: 1 }), true);
  assert.equal(isDocumentObject(Object.create(null)), true);
  for (const value of [null, [], new Date(), Buffer.from(''), 'text', 1, dom.Value.from({})]) {
    assert.equal(isDocumentObject(value), false, String(value));
  }
});
