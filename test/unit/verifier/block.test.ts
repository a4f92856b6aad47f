import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import fc from 'fast-check';
import { dom, dumpBinary, dumpText, load } from 'ion-js';

import { VerificationError, verifyBlock } from '../../../src/verifier/index.js';
import type { BuiltBlock } from './helpers.js';
import {
  Random,
  STRAND,
  addressText,
  assertFails,
  blob,
  blockName,
  buildBlock,
  buildChain,
  flipBit,
  flipInList,
  hex,
  ion,
  proofText,
  randomData,
  refAuditPath,
  refDot,
  refTreeHash,
  withField,
  withListElement,
  withPath,
} from './helpers.js';

const chain = buildChain(9, new Random(9));
const leaves = chain.map((block) => block.blockHash);
const digest = refTreeHash(leaves);
const tipAddress = { strandId: STRAND, sequenceNo: 8 };

/** Block 6 with at least two revisions, so revision-level tampering has room. */
const subject: BuiltBlock = (() => {
  const block = buildBlock({
    address: { strandId: STRAND, sequenceNo: 6 },
    previousBlockHash: leaves[5] as Uint8Array,
    revisions: [
      { id: 'car-1', version: 0, data: randomData(new Random(1), 1) },
      { id: 'car-2', version: 4, data: randomData(new Random(2), 2) },
      { id: 'car-3', version: 1 },
    ],
    statements: ['INSERT INTO Vehicle ?', 'DELETE FROM Vehicle WHERE VIN = ?'],
  });
  return block;
})();
const subjectLeaves = leaves.map((leaf, index) => (index === 6 ? subject.blockHash : leaf));
const subjectDigest = refTreeHash(subjectLeaves);
const subjectProof = refAuditPath(6, subjectLeaves);
const subjectName = blockName(subject.address);

/**
 * Rebuilds a block's hashes bottom-up after a change, so that only the link to the previous
 * block, or the changed field, is inconsistent.
 */
function resealBlock(value: dom.Value): dom.Value {
  const previous = (value.get('previousBlockHash') as dom.Value).uInt8ArrayValue() as Uint8Array;
  const entriesHash = (value.get('entriesHash') as dom.Value).uInt8ArrayValue() as Uint8Array;
  return withField(
    value,
    'blockHash',
    blob(refDot(new Uint8Array(entriesHash), new Uint8Array(previous))),
  );
}

function verifySubject(overrides: Partial<Parameters<typeof verifyBlock>[0]> = {}): void {
  verifyBlock({ block: subject.value, proof: subjectProof, digest: subjectDigest, ...overrides });
}

describe('verifyBlock', () => {
  test('accepts every block of trees of 1 to 9 blocks', () => {
    const random = new Random(99);
    for (const size of [1, 2, 3, 4, 5, 7, 8, 9]) {
      const blocks = buildChain(size, random);
      const treeLeaves = blocks.map((block) => block.blockHash);
      const root = refTreeHash(treeLeaves);
      const tip = { strandId: STRAND, sequenceNo: size - 1 };
      for (const block of blocks) {
        const proof = refAuditPath(block.address.sequenceNo, treeLeaves);
        const result = verifyBlock({ block: block.value, proof, digest: root, tipAddress: tip });
        assert.deepEqual(result.blockAddress, block.address);
        assert.deepEqual(result.blockHash, block.blockHash);
        assert.equal(result.revisionCount, block.revisions.length);
        verifyBlock({ block: dumpText(block.value), proof: proofText(proof), digest: root });
      }
    }
  });

  test('accepts random blocks of a 1000-block tree', () => {
    const random = new Random(1000);
    for (const index of [0, 1, 512, 999, random.int(1000), random.int(1000), random.int(1000)]) {
      const treeLeaves = random.hashes(1000);
      const block = buildBlock({
        address: { strandId: STRAND, sequenceNo: index },
        previousBlockHash: index === 0 ? new Uint8Array(0) : (treeLeaves[index - 1] as Uint8Array),
        revisions: [{ id: `doc-${index}`, version: 0, data: randomData(random, index) }],
      });
      treeLeaves[index] = block.blockHash;
      const root = refTreeHash(treeLeaves);
      const proof = refAuditPath(index, treeLeaves);
      verifyBlock({
        block: block.value,
        proof,
        digest: root,
        tipAddress: { strandId: STRAND, sequenceNo: 999 },
      });
      verifyBlock({
        block: dumpBinary(block.value),
        proof: proofText(proof),
        digest: root,
        tipAddress: addressText({ strandId: STRAND, sequenceNo: 999 }),
      });
    }
  });

  test('checks content alone without a proof', () => {
    const result = verifyBlock({ block: subject.value });
    assert.deepEqual(result.previousBlockHash, leaves[5]);
    assert.equal(result.revisionCount, 3);
  });

  test('accepts a block without revisions', () => {
    const block = buildBlock({
      address: { strandId: STRAND, sequenceNo: 0 },
      previousBlockHash: new Uint8Array(0),
      revisions: [],
    });
    assert.equal(block.value.get('revisions'), null);
    verifyBlock({ block: block.value, proof: [], digest: block.blockHash });
    const emptyList = withField(block.value, 'revisions', new dom.List([]));
    verifyBlock({ block: emptyList, proof: '[]', digest: block.blockHash });
  });

  test('rejects a changed statement in transactionInfo', () => {
    const statements = subject.value.get('transactionInfo', 'statements') as dom.Value;
    const changed = withListElement(
      statements,
      1,
      withField(statements.elements()[1] as dom.Value, 'statement', ion('DELETE FROM Vehicle')),
    );
    const tampered = withPath(subject.value, ['transactionInfo', 'statements'], changed);
    assertFails(
      () => verifySubject({ block: tampered }),
      'ENTRIES_HASH_MISMATCH',
      subjectName,
      'entriesHashList[0]',
      'the hash of transactionInfo',
    );
  });

  test('rejects a changed document entry in transactionInfo', () => {
    const tampered = withPath(
      subject.value,
      ['transactionInfo', 'documents', 'car-2', 'tableName'],
      ion('Person'),
    );
    assertFails(() => verifySubject({ block: tampered }), 'ENTRIES_HASH_MISMATCH', subjectName);
  });

  test('rejects changed revision data', () => {
    const revisions = subject.value.get('revisions') as dom.Value;
    const revision = revisions.elements()[1] as dom.Value;
    const tampered = withField(
      subject.value,
      'revisions',
      withListElement(revisions, 1, withPath(revision, ['data', 'Year'], ion(1901))),
    );
    const error = assertFails(
      () => verifySubject({ block: tampered }),
      'REVISION_HASH_MISMATCH',
      subjectName,
      'document "car-2"',
      'revisions[1]',
    );
    assert.equal(error.documentId, 'car-2');
    assert.deepEqual(error.blockAddress, subject.address);
  });

  test('rejects a revision hash changed consistently', () => {
    // Data and hash both changed: the revision is self-consistent, the entries are not.
    const revisions = subject.value.get('revisions') as dom.Value;
    const forged = buildBlock({
      address: subject.address,
      previousBlockHash: subject.previousBlockHash,
      revisions: [{ id: 'car-1', version: 0, data: { VIN: 'forged' } }],
    }).revisions[0]!.value;
    const tampered = withField(subject.value, 'revisions', withListElement(revisions, 0, forged));
    assertFails(
      () => verifySubject({ block: tampered }),
      'ENTRIES_HASH_MISMATCH',
      subjectName,
      'entriesHashList[1]',
      'the list root of the revision hashes',
    );
  });

  test('rejects a dropped or reordered revision', () => {
    const revisions = (subject.value.get('revisions') as dom.Value).elements();
    const dropped = withField(subject.value, 'revisions', new dom.List(revisions.slice(1)));
    assertFails(() => verifySubject({ block: dropped }), 'ENTRIES_HASH_MISMATCH', subjectName);
    const reordered = withField(subject.value, 'revisions', new dom.List([...revisions].reverse()));
    assertFails(() => verifySubject({ block: reordered }), 'ENTRIES_HASH_MISMATCH', subjectName);
    const none = withField(subject.value, 'revisions', undefined);
    assertFails(
      () => verifySubject({ block: none }),
      'ENTRIES_HASH_MISMATCH',
      'expected 1 hashes in entriesHashList for 0 revisions, got 2',
    );
  });

  test('rejects a revision from another block', () => {
    const revisions = subject.value.get('revisions') as dom.Value;
    const moved = withField(
      revisions.elements()[2] as dom.Value,
      'blockAddress',
      ion({ strandId: STRAND, sequenceNo: 5 }),
    );
    const tampered = withField(subject.value, 'revisions', withListElement(revisions, 2, moved));
    assertFails(
      () => verifySubject({ block: tampered }),
      'BLOCK_ADDRESS_MISMATCH',
      subjectName,
      'document "car-3"',
      'has blockAddress {strandId: "JdxjkR9bSYB5jMHWcI464T", sequenceNo: 5}',
    );
  });

  test('rejects a changed entriesHashList', () => {
    const list = subject.value.get('entriesHashList') as dom.Value;
    for (let index = 0; index < 2; index++) {
      const hash = (list.elements()[index] as dom.Value).uInt8ArrayValue() as Uint8Array;
      const tampered = withField(
        subject.value,
        'entriesHashList',
        withListElement(list, index, blob(flipBit(hash, 17))),
      );
      assertFails(
        () => verifySubject({ block: tampered }),
        'ENTRIES_HASH_MISMATCH',
        subjectName,
        `entriesHashList[${index}]`,
      );
    }
    const extended = withField(
      subject.value,
      'entriesHashList',
      new dom.List([...list.elements(), blob(digest)]),
    );
    assertFails(
      () => verifySubject({ block: extended }),
      'ENTRIES_HASH_MISMATCH',
      'expected 2 hashes in entriesHashList for 3 revisions, got 3',
    );
  });

  test('rejects a flipped bit in entriesHash', () => {
    const entriesHash = (
      subject.value.get('entriesHash') as dom.Value
    ).uInt8ArrayValue() as Uint8Array;
    fc.assert(
      fc.property(fc.nat(255), (bit) => {
        const tampered = withField(subject.value, 'entriesHash', blob(flipBit(entriesHash, bit)));
        assertFails(
          () => verifySubject({ block: tampered }),
          'ENTRIES_HASH_MISMATCH',
          subjectName,
          'entriesHash',
        );
      }),
      { numRuns: 30 },
    );
  });

  test('rejects a flipped bit in blockHash', () => {
    fc.assert(
      fc.property(fc.nat(255), (bit) => {
        const tampered = withField(
          subject.value,
          'blockHash',
          blob(flipBit(subject.blockHash, bit)),
        );
        const error = assertFails(
          () => verifySubject({ block: tampered }),
          'BLOCK_HASH_MISMATCH',
          subjectName,
        );
        assert.deepEqual(error.actual, subject.blockHash);
      }),
      { numRuns: 30 },
    );
  });

  test('rejects a flipped bit in previousBlockHash', () => {
    const tampered = withField(
      subject.value,
      'previousBlockHash',
      blob(flipBit(subject.previousBlockHash, 77)),
    );
    assertFails(() => verifySubject({ block: tampered }), 'BLOCK_HASH_MISMATCH', subjectName);
  });

  test('rejects a broken chain start', () => {
    const first = chain[0] as BuiltBlock;
    const linked = resealBlock(
      withField(first.value, 'previousBlockHash', blob(leaves[3] as Uint8Array)),
    );
    assertFails(
      () => verifyBlock({ block: linked }),
      'CHAIN_BROKEN',
      blockName(first.address),
      'expected an empty previousBlockHash in block 0',
    );
    const unlinked = resealBlock(
      withField(subject.value, 'previousBlockHash', blob(new Uint8Array(0))),
    );
    assertFails(
      () => verifyBlock({ block: unlinked }),
      'CHAIN_BROKEN',
      subjectName,
      'expected a 32-byte previousBlockHash after block 0',
    );
  });

  test('rejects proof tampering', () => {
    for (let element = 0; element < subjectProof.length; element++) {
      assertFails(
        () => verifySubject({ proof: flipInList(subjectProof, element, 200) }),
        'PROOF_MISMATCH',
        subjectName,
        `does not match the digest ${hex(subjectDigest)}`,
      );
      assertFails(
        () => verifySubject({ proof: subjectProof.filter((_, i) => i !== element) }),
        'PROOF_MISMATCH',
        subjectName,
      );
    }
    assertFails(
      () => verifySubject({ proof: [...subjectProof].reverse() }),
      'PROOF_MISMATCH',
      subjectName,
    );
    assertFails(
      () => verifySubject({ proof: [...subjectProof, subjectDigest] }),
      'PROOF_MISMATCH',
      subjectName,
    );
    assertFails(() => verifySubject({ digest: digest }), 'PROOF_MISMATCH', subjectName);
  });

  test('rejects random single-bit flips in proof and digest', () => {
    fc.assert(
      fc.property(fc.nat(subjectProof.length), fc.nat(255), (element, bit) => {
        const overrides =
          element === subjectProof.length
            ? { digest: flipBit(subjectDigest, bit) }
            : { proof: flipInList(subjectProof, element, bit) };
        assertFails(() => verifySubject(overrides), 'PROOF_MISMATCH', subjectName);
      }),
      { numRuns: 200 },
    );
  });

  test('requires the exact proof length with a tip address', () => {
    verifySubject({ tipAddress });
    assertFails(
      () => verifySubject({ tipAddress, proof: subjectProof.slice(1) }),
      'MALFORMED_PROOF',
      subjectName,
      `expected ${subjectProof.length} hashes in the proof for a digest at tip`,
    );
    assertFails(
      () => verifySubject({ tipAddress, proof: [...subjectProof, digest] }),
      'MALFORMED_PROOF',
      `got ${subjectProof.length + 1}`,
    );
    assertFails(
      () => verifySubject({ tipAddress: { strandId: STRAND, sequenceNo: 5 } }),
      'BLOCK_ADDRESS_MISMATCH',
      subjectName,
      'comes after the digest tip',
    );
    assertFails(
      () => verifySubject({ tipAddress: { strandId: 'x', sequenceNo: 8 } }),
      'BLOCK_ADDRESS_MISMATCH',
      'differs from the digest tip',
    );
  });

  test('rejects malformed proofs', () => {
    assertFails(
      () => verifySubject({ proof: '[1, 2]' }),
      'MALFORMED_PROOF',
      subjectName,
      'element 0: expected blob, got int',
    );
    assertFails(
      () => verifySubject({ proof: '{{AAAA}}' }),
      'MALFORMED_PROOF',
      subjectName,
      'expected an Ion list of blobs, got blob',
    );
    assertFails(
      () => verifySubject({ proof: '[{{AAAA}}]' }),
      'MALFORMED_PROOF',
      subjectName,
      'expected 32 bytes, got 3',
    );
    assertFails(() => verifySubject({ proof: '[' }), 'MALFORMED_PROOF', subjectName, 'invalid Ion');
  });

  test('rejects malformed blocks', () => {
    const value = subject.value;
    const cases: [string, dom.Value | string, string][] = [
      ['not a struct', '[]', 'block: expected struct, got list'],
      [
        'no address',
        withField(value, 'blockAddress', undefined),
        'block: blockAddress: missing field',
      ],
      [
        'a float sequenceNo',
        withPath(value, ['blockAddress', 'sequenceNo'], ion(1.5)),
        'blockAddress.sequenceNo: expected int, got float',
      ],
      [
        'no transactionId',
        withField(value, 'transactionId', undefined),
        `${subjectName}: transactionId: missing field`,
      ],
      [
        'a string blockTimestamp',
        withField(value, 'blockTimestamp', ion('today')),
        'blockTimestamp: expected timestamp, got string',
      ],
      [
        'a short blockHash',
        withField(value, 'blockHash', blob(new Uint8Array(31))),
        'blockHash: expected 32 bytes, got 31',
      ],
      [
        'a short previousBlockHash',
        withField(value, 'previousBlockHash', blob(new Uint8Array(2))),
        'previousBlockHash: expected 0 or 32 bytes, got 2',
      ],
      [
        'a non-blob entry',
        withField(value, 'entriesHashList', ion([1])),
        'entriesHashList[0]: expected blob, got int',
      ],
      [
        'no transactionInfo',
        withField(value, 'transactionInfo', undefined),
        'transactionInfo: missing field',
      ],
      [
        'no statements',
        withPath(value, ['transactionInfo', 'statements'], undefined),
        'transactionInfo.statements: missing field',
      ],
      [
        'a bad statement',
        withPath(value, ['transactionInfo', 'statements'], ion([{ statement: 1 }])),
        'transactionInfo.statements[0].statement: expected string, got int',
      ],
      [
        'a bad document',
        withPath(value, ['transactionInfo', 'documents', 'car-1', 'statements'], ion(['0'])),
        'transactionInfo.documents.car-1.statements[0]: expected int, got string',
      ],
      [
        'a struct revisions',
        withField(value, 'revisions', ion({})),
        'revisions: expected list, got struct',
      ],
      ['invalid Ion', '{blockAddress: {', 'block: invalid Ion'],
      ['null', 'null', 'block: expected struct, got null'],
    ];
    for (const [, input, message] of cases) {
      assertFails(() => verifyBlock({ block: input }), 'MALFORMED_BLOCK', message);
    }
    const badRevision = withField(value, 'revisions', ion([{ hash: new Uint8Array(32) }]));
    assertFails(
      () => verifyBlock({ block: badRevision }),
      'MALFORMED_REVISION',
      `revision at revisions[0] in ${subjectName}: blockAddress: missing field`,
    );
  });

  test('rejects a repeated document in transactionInfo', () => {
    const text = dumpText(subject.value).replace(
      /documents:\{/,
      'documents:{\'car-1\':{tableName:"T",tableId:"t",statements:[]},',
    );
    assert.notEqual(text, dumpText(subject.value));
    assertFails(
      () => verifyBlock({ block: text }),
      'MALFORMED_BLOCK',
      'transactionInfo.documents.car-1: expected 1 field, got 2',
    );
  });

  test('raises only VerificationError for mutated block text', () => {
    const text = dumpText(subject.value);
    fc.assert(
      fc.property(fc.nat(text.length - 1), fc.string({ maxLength: 2 }), (position, insert) => {
        const mutated = text.slice(0, position) + insert + text.slice(position + 1);
        try {
          verifySubject({ block: mutated });
        } catch (error) {
          assert.ok(error instanceof VerificationError, String(error));
        }
      }),
      { numRuns: 200 },
    );
  });

  test('rejects wrong argument combinations', () => {
    assert.throws(() => verifyBlock({ block: subject.value, proof: subjectProof }), {
      name: 'TypeError',
      message: 'options: expected both proof and digest, or neither',
    });
    assert.throws(() => verifyBlock({ block: subject.value, digest: subjectDigest }), {
      name: 'TypeError',
    });
    assert.throws(() => verifyBlock({ block: subject.value, tipAddress }), {
      name: 'TypeError',
      message: 'options: expected proof and digest with tipAddress',
    });
    assert.throws(() => verifyBlock({ block: 1 as unknown as string }), {
      name: 'TypeError',
      message: 'block: expected Ion text, binary Ion or an ion-js dom value, got number',
    });
    assert.throws(() => verifyBlock('block' as never), {
      name: 'TypeError',
      message: 'options: expected an object, got string',
    });
  });

  test('reads the block as QLDB prints it', () => {
    const reloaded = load(dumpText(subject.value)) as dom.Value;
    verifyBlock({ block: reloaded, proof: subjectProof, digest: subjectDigest, tipAddress });
  });
});
