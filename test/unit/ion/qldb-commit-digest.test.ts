// QLDB's commit digest over a transaction: the transaction id and each statement are hashed as
// Ion strings, each parameter by its Ion hash, all combined with dot:
//   txnHash = H(txId); stmtHash = H(statement) dot H(param 1) dot ...; txnHash = txnHash dot stmtHash.
// The same steps run once with the engine's functions and once with ion-hash-js and node:crypto.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as ion from 'ion-js';

import { dot, hashString, ionHash } from '../../../src/engine/ion/index.js';
import {
  hex,
  referenceDot,
  referenceHashString,
  referenceIonHash,
  sha256,
} from './reference-hashes.js';

interface Statement {
  text: string;
  parameters: ion.dom.Value[];
}

const TRANSACTION_ID = '3RkGTd6MCu5BAvE5iMY8wu';

const STATEMENTS: Statement[] = [
  { text: 'CREATE TABLE Vehicle', parameters: [] },
  {
    text: 'INSERT INTO Vehicle ?',
    parameters: [
      ion.load(
        '{VIN: "1N4AL11D75C109151", Type: "Sedan", Year: 2011, Make: "Audi", ' +
          'Model: "A5", Color: "Silver", Price: 44999.99, Registered: 2026-12-04T10:00:00.000Z}',
      ) as ion.dom.Value,
    ],
  },
  {
    text: 'SELECT * FROM Vehicle AS v WHERE v.VIN = ? AND v.Year > ?',
    parameters: [
      ion.load('"1N4AL11D75C109151"') as ion.dom.Value,
      ion.load('2010') as ion.dom.Value,
    ],
  },
  {
    text: 'UPDATE Vehicle SET Color = ? WHERE VIN = ?',
    parameters: [
      ion.load('note::"Blue"') as ion.dom.Value,
      ion.load('null.string') as ion.dom.Value,
    ],
  },
];

function commitDigest(statements: Statement[]): Uint8Array {
  let transactionHash = hashString(TRANSACTION_ID);
  for (const statement of statements) {
    let statementHash = hashString(statement.text);
    for (const parameter of statement.parameters)
      statementHash = dot(statementHash, ionHash(parameter));
    transactionHash = dot(transactionHash, statementHash);
  }
  return transactionHash;
}

function referenceCommitDigest(statements: Statement[]): Uint8Array {
  let transactionHash = referenceHashString(TRANSACTION_ID);
  for (const statement of statements) {
    let statementHash = referenceHashString(statement.text);
    for (const parameter of statement.parameters) {
      statementHash = referenceDot(statementHash, referenceIonHash(parameter));
    }
    transactionHash = referenceDot(transactionHash, statementHash);
  }
  return transactionHash;
}

test('hashString of "abc"', () => {
  const serialization = Uint8Array.of(0x0b, 0x80, 0x61, 0x62, 0x63, 0x0e);
  const expected = 'b0f6224eae807e7850240dedb0d7356d242aa24557c4e42f1730443cffbb3f98';
  assert.equal(hex(sha256(serialization)), expected);
  assert.equal(hex(hashString('abc')), expected);
});

test('hashString matches ion-hash-js', () => {
  for (const text of ['', TRANSACTION_ID, 'é😀', '\x0b\x0c\x0e', 'x'.repeat(1000)]) {
    assert.equal(
      hex(hashString(text)),
      hex(referenceHashString(text)),
      JSON.stringify(text.slice(0, 20)),
    );
  }
});

test('commit digest matches reference', () => {
  assert.equal(hex(commitDigest(STATEMENTS)), hex(referenceCommitDigest(STATEMENTS)));
});

test('commit digest of each statement prefix', () => {
  for (let count = 0; count <= STATEMENTS.length; count++) {
    const statements = STATEMENTS.slice(0, count);
    assert.equal(
      hex(commitDigest(statements)),
      hex(referenceCommitDigest(statements)),
      `${count} statements`,
    );
  }
});

test('parameters sent as Ion binary hash alike', () => {
  // QLDB clients send parameters as Ion binary. The hash depends on the value only.
  for (const parameter of STATEMENTS.flatMap((statement) => statement.parameters)) {
    const decoded = ion.load(ion.dumpBinary(parameter)) as ion.dom.Value;
    assert.equal(hex(ionHash(decoded)), hex(ionHash(parameter)));
  }
});

test('commit digest depends on statement order', () => {
  const reversed = [...STATEMENTS].reverse();
  assert.notEqual(hex(commitDigest(reversed)), hex(commitDigest(STATEMENTS)));
});
