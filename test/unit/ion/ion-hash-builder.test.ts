import { createHash } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as ion from 'ion-js';

import {
  IonHashBuilder,
  hashString,
  ionHash,
  ionHashSerialization,
} from '../../../src/engine/ion/index.js';
import { hex, referenceIonHash } from './reference-hashes.js';

function load(text: string): ion.dom.Value {
  return ion.load(text) as ion.dom.Value;
}

const RECORD_TEXT =
  '{id: 1234, name: "Alice Example", email: "alice@example.com", amount: 12.50, ' +
  'createdAt: 2026-12-04T10:00:00.000Z, active: true}';

test('builder struct equals ionHash of dom', () => {
  const digest = new IonHashBuilder()
    .stepIn('struct')
    .fieldName('id')
    .int(1234)
    .fieldName('name')
    .string('Alice Example')
    .fieldName('email')
    .string('alice@example.com')
    .fieldName('amount')
    .decimal(new ion.Decimal('12.50'))
    .fieldName('createdAt')
    .timestamp(new Date(Date.UTC(2026, 11, 4, 10)))
    .fieldName('active')
    .bool(true)
    .stepOut()
    .digest();
  assert.equal(hex(digest), hex(ionHash(load(RECORD_TEXT))));
  assert.equal(hex(digest), hex(referenceIonHash(load(RECORD_TEXT))));
});

test('builder scalars equal ionHash of dom', () => {
  const builder = new IonHashBuilder();
  const cases: [(builder: IonHashBuilder) => IonHashBuilder, string][] = [
    [(b) => b.null(), 'null'],
    [(b) => b.null('timestamp'), 'null.timestamp'],
    [(b) => b.null('struct'), 'null.struct'],
    [(b) => b.bool(false), 'false'],
    [(b) => b.int(0), '0'],
    [(b) => b.int(-6), '-6'],
    [(b) => b.int(2 ** 60), '1152921504606846976'],
    [(b) => b.int(-(2n ** 100n)), '-1267650600228229401496703205376'],
    [(b) => b.float(-0), '-0e0'],
    [(b) => b.float(NaN), 'nan'],
    [(b) => b.float(1.5), '1.5e0'],
    [(b) => b.decimal(new ion.Decimal('-0.00')), '-0.00'],
    [
      (b) => b.timestamp(ion.Timestamp.parse('2001-02-03T04:05:06.789-12:34')!),
      '2001-02-03T04:05:06.789-12:34',
    ],
    [(b) => b.timestamp(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 67))), '2026-01-02T03:04:05.067Z'],
    [(b) => b.timestamp(new Date(Date.UTC(2026, 0, 2))), '2026-01-02T00:00:00.000Z'],
    [(b) => b.string('\x0b\x0c\x0e é'), '"\\x0b\\x0c\\x0e é"'],
    [(b) => b.symbol('name'), 'name'],
    [(b) => b.symbol(''), "''"],
    [(b) => b.blob(Uint8Array.of(0x0b, 0x0e)), '{{Cw4=}}'],
    [(b) => b.clob(Uint8Array.of(0x68, 0x69)), '{{"hi"}}'],
    [(b) => b.annotate(['a', 'b']).int(1), 'a::b::1'],
    [(b) => b.annotate(['a']).stepIn('sexp').symbol('x').stepOut(), 'a::(x)'],
    [(b) => b.stepIn('list').int(1).stepIn('struct').stepOut().stepOut(), '[1, {}]'],
  ];
  for (const [write, text] of cases) {
    assert.equal(hex(write(builder).digest()), hex(ionHash(load(text))), text);
  }
});

test('builder keeps duplicate fields', () => {
  const digest = new IonHashBuilder()
    .stepIn('struct')
    .fieldName('a')
    .int(3)
    .fieldName('a')
    .int(1)
    .fieldName('a')
    .annotate(['x'])
    .int(1)
    .stepOut()
    .digest();
  assert.equal(hex(digest), hex(referenceIonHash(load('{a:3, a:1, a:x::1}'))));
});

test('builder embeds dom values', () => {
  const data = load('{VIN: "1N4AL11D75C109151", tags: [a::1, (b c)], price: 44999.99}');
  const digest = new IonHashBuilder()
    .stepIn('struct')
    .fieldName('data')
    .value(data)
    .fieldName('metadata')
    .stepIn('struct')
    .fieldName('id')
    .string('5PLf9SXwndd63lPaSIa0O6')
    .fieldName('version')
    .int(0)
    .stepOut()
    .stepOut()
    .digest();
  const expected = load(
    `{data: ${ion.dumpText(data)}, metadata: {id: "5PLf9SXwndd63lPaSIa0O6", version: 0}}`,
  );
  assert.equal(hex(digest), hex(referenceIonHash(expected)));
});

test('builder is reusable after digest and reset', () => {
  const builder = new IonHashBuilder();
  const first = builder.string('abc').digest();
  assert.equal(hex(builder.string('abc').digest()), hex(first));
  builder.stepIn('list').int(1);
  builder.reset();
  assert.equal(hex(builder.string('abc').digest()), hex(first));
  assert.equal(hex(first), hex(hashString('abc')));
});

test('builder takes another digest function', () => {
  const md5 = (data: Uint8Array) => new Uint8Array(createHash('md5').update(data).digest());
  // Ion Hash MD5 of `true`, from the ion-hash-js conformance vectors.
  assert.equal(
    hex(new IonHashBuilder(md5).bool(true).digest()),
    'a7510a8e9a56d02329272eb49666de12',
  );
});

test('ionHashSerialization shows struct fields unhashed', () => {
  const expected = '0bd00c0b70610c0e0c0b20010c0e0c0b70620c0e0c0b20020c0e0e';
  assert.equal(hex(ionHashSerialization(load('{b:2, a:1}'))), expected);
});

test('builder rejects misplaced calls', () => {
  const builder = new IonHashBuilder();
  assert.throws(() => builder.fieldName('a'), /outside a struct/);
  assert.throws(() => builder.stepOut(), /not inside a container/);
  assert.throws(() => builder.digest(), /no value has been written/);
  builder.int(1);
  assert.throws(() => builder.int(2), /second top-level value/);
  builder.reset();
  builder.stepIn('struct');
  assert.throws(() => builder.int(1), /without fieldName/);
  builder.reset();
  builder.stepIn('struct').fieldName('a');
  assert.throws(() => builder.fieldName('b'), /previous field has no value/);
  assert.throws(() => builder.stepOut(), /last field has no value/);
  builder.reset();
  builder.stepIn('list');
  assert.throws(() => builder.fieldName('a'), /outside a struct/);
  assert.throws(() => builder.digest(), /still open/);
  builder.annotate(['a']);
  assert.throws(() => builder.stepOut(), /no value follows the annotations/);
  builder.reset();
  builder.int(1).annotate(['a']);
  assert.throws(() => builder.digest(), /no value follows the annotations/);
});

test('builder rejects wrong argument types', () => {
  const builder = new IonHashBuilder();
  assert.throws(() => builder.string(1 as unknown as string), {
    name: 'TypeError',
    message: /expected a string, received number/,
  });
  assert.throws(() => builder.int('1' as unknown as number), { name: 'TypeError' });
  assert.throws(() => builder.float(1n as unknown as number), { name: 'TypeError' });
  assert.throws(() => builder.bool(0 as unknown as boolean), { name: 'TypeError' });
  assert.throws(() => builder.decimal(12.5 as unknown as ion.Decimal), { name: 'TypeError' });
  assert.throws(() => builder.timestamp('2026' as unknown as Date), { name: 'TypeError' });
  assert.throws(() => builder.blob([1] as unknown as Uint8Array), { name: 'TypeError' });

  assert.throws(() => builder.stepIn('map' as unknown as 'list'), { name: 'TypeError' });
  assert.throws(() => builder.null('integer' as unknown as 'int'), { name: 'TypeError' });
  assert.throws(() => builder.annotate('a' as unknown as string[]), { name: 'TypeError' });
  assert.throws(() => builder.annotate([1] as unknown as string[]), {
    name: 'TypeError',
    message: /annotations\[0\]/,
  });

  assert.throws(() => builder.value({} as ion.dom.Value), {
    name: 'TypeError',
    message: /dom.Value/,
  });

  assert.throws(() => ionHash('abc' as unknown as ion.dom.Value), { name: 'TypeError' });
  assert.throws(() => hashString(null as unknown as string), {
    name: 'TypeError',
    message: /received null/,
  });

  assert.throws(() => new IonHashBuilder('sha256' as unknown as () => Uint8Array), {
    name: 'TypeError',
  });
});

test('builder rejects out-of-range values', () => {
  const builder = new IonHashBuilder();
  assert.throws(() => builder.int(1.5), {
    name: 'RangeError',
    message: /expected an integer, received 1.5/,
  });
  assert.throws(() => builder.int(Infinity), { name: 'RangeError' });
  assert.throws(() => builder.timestamp(new Date(NaN)), { name: 'RangeError' });
  assert.throws(() => builder.timestamp(new Date(Date.UTC(10000, 0, 1))), {
    name: 'RangeError',
    message: /10000/,
  });

  assert.throws(() => builder.string('a\ud800b'), { name: 'RangeError', message: /index 1/ });
  builder.reset();
  assert.throws(() => hashString('x'.repeat(40) + '\udc00'), {
    name: 'RangeError',
    message: /index 40/,
  });
  assert.throws(() => ionHash(new ion.dom.String('\ud83d')), { name: 'RangeError' });

  // The shared builder behind ionHash recovers after an error.
  assert.equal(
    hex(hashString('abc')),
    'b0f6224eae807e7850240dedb0d7356d242aa24557c4e42f1730443cffbb3f98',
  );
});
