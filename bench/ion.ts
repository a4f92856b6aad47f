// Throughput of the Ion binary encoder and the Ion hasher against ion-js and ion-hash-js on
// a 6-field record. Run: node --import tsx bench/ion.ts (about 9 s).
import * as ion from 'ion-js';
import { cryptoHasherProvider, makeHashWriter } from 'ion-hash-js';

import { IonHashBuilder, encodeIonBinary, ionHash } from '../src/engine/ion/index.js';

const RECORD_TEXT =
  '{id: 1234, name: "Alice Example", email: "alice@example.com", amount: 12.50, ' +
  'createdAt: 2026-12-04T10:00:00.000Z, active: true}';

/** Time budget of one measurement, in milliseconds. Seven measurements run in total. */
const MEASURE_MS = 1000;
const WARMUP_MS = 200;
const BATCH = 100;

/** Runs `operation` in batches for about `milliseconds` and returns operations per second. */
function measure(operation: () => unknown, milliseconds: number): number {
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < milliseconds) {
    for (let index = 0; index < BATCH; index++) operation();
    count += BATCH;
    elapsed = performance.now() - start;
  }
  return (count / elapsed) * 1000;
}

function run(name: string, operation: () => unknown): number {
  measure(operation, WARMUP_MS);
  const opsPerSecond = measure(operation, MEASURE_MS);
  console.log(
    `${name.padEnd(40)} ${Math.round(opsPerSecond).toLocaleString('en-US').padStart(12)} ops/s`,
  );
  return opsPerSecond;
}

function ratio(name: string, fast: number, reference: number): void {
  console.log(`${name.padEnd(40)} ${(fast / reference).toFixed(1).padStart(12)}x`);
}

const record = ion.load(RECORD_TEXT) as ion.dom.Value;
const createdAt = record.get('createdAt')!.timestampValue()!;
const amount = record.get('amount')!.decimalValue()!;
const encodedLength = encodeIonBinary(record).length;
console.log(`record: ${RECORD_TEXT}`);
console.log(
  `binary size: ${encodedLength} bytes (ion-js: ${ion.dumpBinary(record).length} bytes)\n`,
);

const referenceEncode = run('ion-js dumpBinary', () => ion.dumpBinary(record));
const encode = run('encodeIonBinary', () => encodeIonBinary(record));
ratio('encodeIonBinary / dumpBinary', encode, referenceEncode);
console.log();

const referenceHash = run('ion-hash-js makeHashWriter (sha256)', () => {
  const writer = makeHashWriter(ion.makeBinaryWriter(), cryptoHasherProvider('sha256'));
  record.writeTo(writer);
  return writer.digest();
});
const hash = run('ionHash', () => ionHash(record));
ratio('ionHash / ion-hash-js', hash, referenceHash);

const builder = new IonHashBuilder();
const built = run('IonHashBuilder (same record)', () =>
  builder
    .stepIn('struct')
    .fieldName('id')
    .int(1234)
    .fieldName('name')
    .string('Alice Example')
    .fieldName('email')
    .string('alice@example.com')
    .fieldName('amount')
    .decimal(amount)
    .fieldName('createdAt')
    .timestamp(createdAt)
    .fieldName('active')
    .bool(true)
    .stepOut()
    .digest(),
);
ratio('IonHashBuilder / ion-hash-js', built, referenceHash);

const date = new Date(Date.UTC(2026, 11, 4, 10));
run('IonHashBuilder.timestamp(Date)', () => builder.timestamp(date).digest());
