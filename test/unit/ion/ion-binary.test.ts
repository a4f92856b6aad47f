import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as ion from 'ion-js';

import { IonBinaryWriter, encodeIonBinary, ionHash } from '../../../src/engine/ion/index.js';
import { hex, referenceIonHash } from './reference-hashes.js';

function load(text: string): ion.dom.Value {
  return ion.load(text) as ion.dom.Value;
}

/** Encodes, decodes, and checks that the decoded value is equal and encodes to the same bytes. */
function assertRoundTrip(value: ion.dom.Value, label: string): Uint8Array {
  const encoded = encodeIonBinary(value);
  const decoded = ion.load(encoded) as ion.dom.Value;
  assert.equal(hex(encodeIonBinary(decoded)), hex(encoded), `${label}: second encoding`);
  assert.ok(decoded.ionEquals(value), `${label}: decoded ${ion.dumpText(decoded)}`);
  return encoded;
}

test('encodeIonBinary of record', () => {
  const record = load(
    '{id: 1234, name: "Alice Example", email: "alice@example.com", amount: 12.50, ' +
      'createdAt: 2026-12-04T10:00:00.000Z, active: true}',
  );
  const encoded = assertRoundTrip(record, 'record');
  assert.equal(hex(encoded), hex(ion.dumpBinary(record)));
  // Version marker, then a local symbol table (an annotation wrapper with annotation
  // $ion_symbol_table, symbol ID 3) for id, email, amount, createdAt and active. The field
  // "name" needs no entry because it is system symbol 4.
  assert.equal(hex(encoded.subarray(0, 4)), 'e00100ea');
  assert.equal(hex(encoded.subarray(4, 8)), 'eea88183');
  assert.equal(ion.loadAll(encoded).length, 1);
});

test('encodeIonBinary of bare values', () => {
  assert.equal(hex(encodeIonBinary(load('null'))), 'e00100ea0f');
  assert.equal(hex(encodeIonBinary(load('null.struct'))), 'e00100eadf');
  assert.equal(hex(encodeIonBinary(load('true'))), 'e00100ea11');
  assert.equal(hex(encodeIonBinary(load('-1'))), 'e00100ea3101');
  assert.equal(hex(encodeIonBinary(load('0e0'))), 'e00100ea40');
  assert.equal(hex(encodeIonBinary(load('0d0'))), 'e00100ea50');
  assert.equal(hex(encodeIonBinary(load('-0d0'))), 'e00100ea528080');
  assert.equal(hex(encodeIonBinary(load('"hi"'))), 'e00100ea826869');
  assert.equal(hex(encodeIonBinary(load('{}'))), 'e00100ead0');
});

test('encodeIonBinary uses system symbol IDs', () => {
  const value = load('{name: version::imports, symbols: [max_id, $ion]}');
  const encoded = assertRoundTrip(value, 'system symbols');
  // No local symbol table: every symbol is a system symbol.
  assert.equal(hex(encoded), 'e00100ea' + 'dc' + '84e481857106' + '87b471087101');
  assert.equal(hex(encoded), hex(ion.dumpBinary(value)));
});

test('encodeIonBinary keeps system texts inside containers', () => {
  // Built with dom constructors because the ion-js text reader takes any struct annotated
  // with $ion_symbol_table as a symbol table, even inside a container.
  const { List, SExpression, String, Struct, Symbol, Integer } = ion.dom;
  const values: ion.dom.Value[] = [
    new List([
      new Symbol('$ion_1_0'),
      new Struct([['symbols', new List([new String('a')])]], ['$ion_symbol_table']),
    ]),
    new Struct([['a', new Struct([['imports', new Symbol('b')]], ['$ion_symbol_table'])]]),
    new SExpression([
      new Symbol('$ion_symbol_table'),
      new Integer(1, ['$ion_shared_symbol_table']),
    ]),
  ];
  for (const value of values) {
    assertRoundTrip(value, ion.dumpText(value));
    assert.equal(hex(ionHash(value)), hex(referenceIonHash(value)), ion.dumpText(value));
  }
});

test('encodeIonBinary rejects top-level system values', () => {
  const { Null, Struct, Symbol, Integer } = ion.dom;
  const rejected: ion.dom.Value[] = [
    new Symbol('$ion_1_0'),
    new Symbol('$ion_1_0', ['a']),
    new Struct([['x', new Integer(1)]], ['$ion_symbol_table']),
    new Null(ion.IonTypes.STRUCT, ['$ion_symbol_table', 'a']),
  ];
  for (const value of rejected) {
    assert.throws(() => encodeIonBinary(value), { name: 'RangeError' }, value.toString());
  }
  const accepted: ion.dom.Value[] = [
    new Struct([['x', new Integer(1)]], ['a', '$ion_symbol_table']),
    new Integer(5, ['$ion_symbol_table']),
    new Symbol('$ion_1_1'),
  ];
  for (const value of accepted) assertRoundTrip(value, value.toString());
});

test('encodeIonBinary writes long lengths', () => {
  for (const length of [13, 14, 127, 128, 16383, 16384, 70000]) {
    const text = 'x'.repeat(length);
    const value = new ion.dom.List(
      [
        new ion.dom.String(text, ['a']),
        new ion.dom.Blob(new Uint8Array(length).fill(7)),
        new ion.dom.Struct([['f', new ion.dom.String(text)]], ['b', 'c']),
      ],
      ['outer'],
    );
    const encoded = assertRoundTrip(value, `length ${length}`);
    assert.equal(hex(encoded), hex(ion.dumpBinary(value)), `length ${length}: ion-js bytes`);
  }
});

test('encodeIonBinary converts offsets to UTC fields', () => {
  for (const text of [
    '2001-02-03T00:05-00:10',
    '2001-02-03T23:55+00:10',
    '2001-01-01T00:30+01:00',
    '2000-12-31T23:30-01:00',
    '2000-03-01T00:00+00:01',
    '2100-03-01T00:00:00.5+23:59',
    '0050-01-01T00:30+01:00',
    '9999-12-31T23:59:59.999-00:00',
    '2001-02-03T04:05:06.123456789012-12:34',
  ]) {
    const value = load(text);
    assertRoundTrip(value, text);
    assert.equal(hex(ionHash(value)), hex(referenceIonHash(value)), `${text}: hash`);
    assert.equal(hex(encodeIonBinary(value)), hex(ion.dumpBinary(value)), `${text}: ion-js bytes`);
  }
});

test('encodeIonBinary keeps fractions that ion-js rounds up', () => {
  // ion-js 5 derives the UTC fields from getDate(), which rounds .9999 s to a whole second
  // and so writes 04:06 instead of 04:05. The encoder reads the fields themselves.
  const value = load('2001-02-03T04:05:59.9999Z');
  const encoded = assertRoundTrip(value, 'fraction .9999');
  assert.equal(ion.load(encoded)!.timestampValue()!.toString(), '2001-02-03T04:05:59.9999Z');
  assert.equal(hex(encoded), 'e00100ea6b800fd182838485bbc4270f');
  assert.notEqual(hex(encoded), hex(ion.dumpBinary(value)));
});

test('IonBinaryWriter record equals encodeIonBinary', () => {
  const createdAt = new Date(Date.UTC(2026, 11, 4, 10));
  const written = new IonBinaryWriter()
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
    .timestamp(createdAt)
    .fieldName('active')
    .bool(true)
    .fieldName('tags')
    .annotate(['set'])
    .stepIn('list')
    .symbol('vip')
    .null('int')
    .float(0.5)
    .blob(Uint8Array.of(1, 2))
    .clob(Uint8Array.of(0x68))
    .stepOut()
    .fieldName('doc')
    .value(load('x::{nested: (a b)}'))
    .stepOut()
    .finish();
  const expected = load(
    '{id: 1234, name: "Alice Example", email: "alice@example.com", amount: 12.50, ' +
      'createdAt: 2026-12-04T10:00:00.000Z, active: true, ' +
      'tags: set::[vip, null.int, 0.5e0, {{AQI=}}, {{"h"}}], doc: x::{nested: (a b)}}',
  );
  assert.equal(hex(written), hex(encodeIonBinary(expected)));
});

test('IonBinaryWriter writes Date at millisecond precision', () => {
  const date = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6));
  const decoded = ion.load(new IonBinaryWriter().timestamp(date).finish())!;
  assert.equal(decoded.timestampValue()!.toString(), '2026-01-02T03:04:05.006Z');
});

test('IonBinaryWriter resets its symbol table', () => {
  const writer = new IonBinaryWriter();
  const first = writer.symbol('alpha').finish();
  const second = writer.symbol('beta').finish();
  assert.equal(ion.load(first)!.stringValue(), 'alpha');
  assert.equal(ion.load(second)!.stringValue(), 'beta');
  assert.equal(hex(writer.finish()), 'e00100ea');
});

test('IonBinaryWriter rejects misplaced calls', () => {
  const writer = new IonBinaryWriter();
  assert.throws(() => writer.fieldName('a'), /outside a struct/);
  assert.throws(() => writer.stepOut(), /not inside a container/);
  writer.stepIn('struct');
  assert.throws(() => writer.int(1), /without fieldName/);
  assert.throws(() => writer.finish(), /still open/);
  writer.fieldName('a');
  assert.throws(() => writer.fieldName('b'), /previous field has no value/);
  assert.throws(() => writer.stepOut(), /last field has no value/);
  writer.reset();
  writer.stepIn('list').annotate(['a']);
  assert.throws(() => writer.stepOut(), /no value follows the annotations/);
  writer.reset();
  writer.annotate(['a']);
  assert.throws(() => writer.finish(), /no value follows the annotations/);
  writer.reset();
  assert.equal(hex(writer.int(5).finish()), 'e00100ea2105');
});

test('encodeIonBinary rejects invalid input', () => {
  assert.throws(() => encodeIonBinary({} as ion.dom.Value), {
    name: 'TypeError',
    message: /dom.Value/,
  });
  assert.throws(() => encodeIonBinary(null as unknown as ion.dom.Value), {
    name: 'TypeError',
    message: /received null/,
  });
  assert.throws(() => encodeIonBinary(new ion.dom.Symbol('a\udfffb')), {
    name: 'RangeError',
    message: /index 1/,
  });
  assert.throws(() => encodeIonBinary(new ion.dom.Struct([['\ud800', new ion.dom.Integer(1)]])), {
    name: 'RangeError',
  });
  // The shared writer behind encodeIonBinary recovers after an error.
  assert.equal(hex(encodeIonBinary(load('a'))), hex(ion.dumpBinary(load('a'))));
});
