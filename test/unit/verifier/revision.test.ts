import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import fc from 'fast-check';
import { dom, dumpBinary, dumpPrettyText, dumpText, load } from 'ion-js';

import { VerificationError, revisionHash, verifyRevision } from '../../../src/verifier/index.js';
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
  buildRevision,
  flipBit,
  flipInList,
  hex,
  ion,
  proofText,
  randomData,
  refAuditPath,
  refDot,
  refIonHash,
  refTreeHash,
  revisionProof,
  withField,
  withPath,
} from './helpers.js';

interface Fixture {
  block: BuiltBlock;
  revisionIndex: number;
  proof: Uint8Array[];
  digest: Uint8Array;
  tip: { strandId: string; sequenceNo: number };
}

/**
 * Builds a revision in block `index` of a tree of `size` blocks. The block has `revisionCount`
 * revisions and real Ion content; the other leaves are random hashes.
 */
function fixture(size: number, index: number, revisionCount: number, seed: number): Fixture {
  const random = new Random(seed);
  const leaves = random.hashes(size);
  const previousBlockHash = index === 0 ? new Uint8Array(0) : (leaves[index - 1] as Uint8Array);
  const block = buildBlock({
    address: { strandId: STRAND, sequenceNo: index },
    previousBlockHash,
    revisions: Array.from({ length: revisionCount }, (_, i) => ({
      id: `doc-${i}`,
      version: i,
      data: randomData(random, i),
    })),
  });
  leaves[index] = block.blockHash;
  const revisionIndex = random.int(revisionCount);
  return {
    block,
    revisionIndex,
    proof: revisionProof(block, revisionIndex, refAuditPath(index, leaves)),
    digest: refTreeHash(leaves),
    tip: { strandId: STRAND, sequenceNo: size - 1 },
  };
}

const main = fixture(9, 5, 6, 42);
const mainRevision = main.block.revisions[main.revisionIndex]!;
const mainName = blockName(main.block.address);
const mainDocument = `document "${mainRevision.spec.id}"`;

function verifyMain(overrides: Partial<Parameters<typeof verifyRevision>[0]> = {}): void {
  verifyRevision({
    revision: mainRevision.value,
    proof: main.proof,
    digest: main.digest,
    ...overrides,
  });
}

describe('revisionHash', () => {
  test('hashes metadata and data with dot', () => {
    const revision = buildRevision(
      { strandId: 's', sequenceNo: 1 },
      {
        id: 'A1',
        version: 2,
        data: { Name: 'Alice', Balance: 12.5, Tags: ['x'] },
      },
    );
    const metadataHash = refIonHash(revision.value.get('metadata') as dom.Value);
    const dataHash = refIonHash(revision.value.get('data') as dom.Value);
    assert.equal(hex(revisionHash(revision.value)), hex(refDot(metadataHash, dataHash)));
    assert.equal(hex(revisionHash(dumpText(revision.value))), hex(revision.hash));
  });

  test('hashes a deletion as its metadata', () => {
    const revision = buildRevision({ strandId: 's', sequenceNo: 1 }, { id: 'A1', version: 3 });
    const metadataHash = refIonHash(revision.value.get('metadata') as dom.Value);
    assert.equal(hex(revisionHash(revision.value)), hex(metadataHash));
  });

  test('uses dataHash for a redacted revision', () => {
    const spec = { id: 'A1', version: 1, data: { Secret: 'x' } };
    const full = buildRevision({ strandId: 's', sequenceNo: 1 }, spec);
    const redacted = buildRevision({ strandId: 's', sequenceNo: 1 }, { ...spec, redacted: true });
    assert.equal(redacted.value.get('data'), null);
    assert.equal(hex(revisionHash(redacted.value)), hex(full.hash));
  });

  test('accepts data with a matching dataHash', () => {
    const revision = buildRevision(
      { strandId: 's', sequenceNo: 1 },
      { id: 'A', version: 0, data: { a: 1 } },
    );
    const dataHash = refIonHash(revision.value.get('data') as dom.Value);
    const both = withField(revision.value, 'dataHash', blob(dataHash));
    assert.equal(hex(revisionHash(both)), hex(revision.hash));
  });

  test('rejects data that disagrees with dataHash', () => {
    const revision = buildRevision(
      { strandId: 's', sequenceNo: 1 },
      { id: 'A', version: 0, data: { a: 1 } },
    );
    const both = withField(revision.value, 'dataHash', blob(new Uint8Array(32)));
    assertFails(() => revisionHash(both), 'REVISION_HASH_MISMATCH', 'dataHash', 'document "A"');
  });

  test('does not depend on field order or encoding', () => {
    const revision = buildRevision(
      { strandId: 's', sequenceNo: 1 },
      { id: 'A', version: 0, data: { a: 1, b: 'x' } },
    );
    const reordered = new dom.Struct([...revision.value.fields()].reverse());
    assert.equal(hex(revisionHash(reordered)), hex(revision.hash));
    assert.equal(hex(revisionHash(dumpBinary(revision.value))), hex(revision.hash));
    assert.equal(hex(revisionHash(dumpPrettyText(revision.value))), hex(revision.hash));
  });

  test('rejects malformed revisions', () => {
    const value = mainRevision.value;
    const cases: [string, dom.Value | string, string][] = [
      ['no metadata', withField(value, 'metadata', undefined), 'metadata: missing field'],
      ['a list', '[1]', 'expected struct, got list'],
      [
        'an int id',
        withPath(value, ['metadata', 'id'], ion(5)),
        'metadata.id: expected string, got int',
      ],
      [
        'a string version',
        withPath(value, ['metadata', 'version'], ion('1')),
        'metadata.version: expected int',
      ],
      [
        'a string txTime',
        withPath(value, ['metadata', 'txTime'], ion('now')),
        'metadata.txTime: expected timestamp',
      ],
      ['no txId', withPath(value, ['metadata', 'txId'], undefined), 'metadata.txId: missing field'],
      ['list data', withField(value, 'data', ion([1])), 'data: expected struct, got list'],
      [
        'null data',
        withField(value, 'data', load('null.struct') as dom.Value),
        'data: expected struct, got null.struct',
      ],
      [
        'a short dataHash',
        withField(value, 'dataHash', blob(new Uint8Array(20))),
        'dataHash: expected 32 bytes, got 20',
      ],
      ['invalid Ion', '{metadata: ', 'invalid Ion'],
      ['two values', '{} {}', 'expected 1 Ion value, got 2'],
    ];
    for (const [, input, message] of cases) {
      assertFails(() => revisionHash(input), 'MALFORMED_REVISION', message);
    }
  });

  test('rejects content that Ion Hash cannot write', () => {
    const badAnnotation = new dom.Integer(1, [undefined as unknown as string]);
    const revision = withPath(mainRevision.value, ['data', 'x'], badAnnotation);
    assertFails(
      () => revisionHash(revision),
      'MALFORMED_REVISION',
      'data: cannot compute the Ion hash',
    );
  });

  test('rejects symbols without text', () => {
    assertFails(
      () =>
        revisionHash('{metadata: {id: "A", version: 0, txTime: 2024T, txId: "t"}, data: {x: $0}}'),
      'MALFORMED_REVISION',
      'invalid Ion',
    );
  });

  test('rejects input of another type', () => {
    assert.throws(() => revisionHash(42 as unknown as string), {
      name: 'TypeError',
      message: 'revision: expected Ion text, binary Ion or an ion-js dom value, got number',
    });
  });
});

describe('verifyRevision', () => {
  test('accepts every revision in chains of 1 to 9 blocks', () => {
    const random = new Random(2024);
    for (const size of [1, 2, 3, 4, 5, 7, 8, 9]) {
      const chain = buildChain(size, random);
      const leaves = chain.map((block) => block.blockHash);
      const digest = refTreeHash(leaves);
      const tipAddress = { strandId: STRAND, sequenceNo: size - 1 };
      for (const block of chain) {
        const path = refAuditPath(block.address.sequenceNo, leaves);
        block.revisions.forEach((revision, index) => {
          const proof = revisionProof(block, index, path);
          const result = verifyRevision({ revision: revision.value, proof, digest, tipAddress });
          assert.equal(result.documentId, revision.spec.id);
          assert.deepEqual(result.blockAddress, block.address);
          assert.deepEqual(result.hash, revision.hash);
          verifyRevision({ revision: dumpText(revision.value), proof: proofText(proof), digest });
        });
      }
    }
  });

  test('accepts revisions in a 1000-block tree', () => {
    const random = new Random(77);
    for (const index of [
      0,
      1,
      511,
      512,
      999,
      random.int(1000),
      random.int(1000),
      random.int(1000),
    ]) {
      for (const revisionCount of [1, 2, 5]) {
        const { block, revisionIndex, proof, digest, tip } = fixture(
          1000,
          index,
          revisionCount,
          index * 7 + revisionCount,
        );
        const revision = block.revisions[revisionIndex]!;
        verifyRevision({ revision: revision.value, proof, digest, tipAddress: tip });
        verifyRevision({
          revision: dumpBinary(revision.value),
          proof: proofText(proof),
          digest,
          tipAddress: addressText(tip),
        });
      }
    }
  });

  test('accepts a revision in a one-block tree', () => {
    const { block, proof, digest } = fixture(1, 0, 1, 5);
    // The only revision's hash joins H(transactionInfo) to give the block hash and digest.
    assert.equal(proof.length, 1);
    verifyRevision({
      revision: block.revisions[0]!.value,
      proof,
      digest,
      tipAddress: { strandId: STRAND, sequenceNo: 0 },
    });
  });

  test('rejects a flipped bit in each proof element', () => {
    for (let element = 0; element < main.proof.length; element++) {
      const error = assertFails(
        () => verifyMain({ proof: flipInList(main.proof, element, (element * 37) % 256) }),
        'PROOF_MISMATCH',
        mainName,
        mainDocument,
        `does not match the digest ${hex(main.digest)}`,
      );
      assert.deepEqual(error.blockAddress, main.block.address);
      assert.equal(error.documentId, mainRevision.spec.id);
      assert.deepEqual(error.expected, main.digest);
    }
  });

  test('rejects random single-bit flips in proof and digest', () => {
    fc.assert(
      fc.property(fc.nat(main.proof.length), fc.nat(255), (element, bit) => {
        const flipDigest = element === main.proof.length;
        assertFails(
          () =>
            verifyMain(
              flipDigest
                ? { digest: flipBit(main.digest, bit) }
                : { proof: flipInList(main.proof, element, bit) },
            ),
          'PROOF_MISMATCH',
          mainName,
        );
      }),
      { numRuns: 200 },
    );
  });

  test('rejects a reordered proof', () => {
    assertFails(() => verifyMain({ proof: [...main.proof].reverse() }), 'PROOF_MISMATCH', mainName);
    const swapped = [...main.proof];
    [swapped[0], swapped[1]] = [swapped[1]!, swapped[0]!];
    assertFails(() => verifyMain({ proof: swapped }), 'PROOF_MISMATCH', mainName);
  });

  test('rejects a dropped or extra element', () => {
    for (let element = 0; element < main.proof.length; element++) {
      const dropped = main.proof.filter((_, i) => i !== element);
      assertFails(() => verifyMain({ proof: dropped }), 'PROOF_MISMATCH', mainName);
    }
    assertFails(
      () => verifyMain({ proof: [...main.proof, main.digest] }),
      'PROOF_MISMATCH',
      mainName,
    );
    assertFails(
      () => verifyMain({ proof: [main.digest, ...main.proof] }),
      'PROOF_MISMATCH',
      mainName,
    );
    assertFails(() => verifyMain({ proof: [] }), 'PROOF_MISMATCH', mainName);
  });

  test('rejects a proof too short for the tip', () => {
    // Block 5 of 9 needs 4 audit hashes, H(transactionInfo) and previousBlockHash.
    assertFails(
      () => verifyMain({ proof: main.proof.slice(0, 5), tipAddress: main.tip }),
      'MALFORMED_PROOF',
      mainName,
      'expected at least 6 hashes in the proof',
    );
    assertFails(
      () => verifyMain({ proof: main.proof.slice(1), tipAddress: main.tip }),
      'PROOF_MISMATCH',
      mainName,
    );
  });

  test('rejects a wrong digest', () => {
    assertFails(
      () => verifyMain({ digest: new Uint8Array(32) }),
      'PROOF_MISMATCH',
      mainName,
      mainDocument,
    );
    const other = fixture(9, 5, 6, 43);
    assertFails(() => verifyMain({ digest: other.digest }), 'PROOF_MISMATCH', mainName);
  });

  test('rejects changed data', () => {
    const tampered = withPath(mainRevision.value, ['data', 'Make'], ion('Lada'));
    const error = assertFails(
      () => verifyMain({ revision: tampered }),
      'REVISION_HASH_MISMATCH',
      mainName,
      mainDocument,
      `stored hash ${hex(mainRevision.hash)}`,
    );
    assert.deepEqual(error.expected, mainRevision.hash);
    assert.notDeepEqual(error.actual, mainRevision.hash);
  });

  test('rejects a flipped bit in a data blob', () => {
    const photo = (
      mainRevision.value.get('data', 'Photo') as dom.Value
    ).uInt8ArrayValue() as Uint8Array;
    fc.assert(
      fc.property(fc.nat(photo.length * 8 - 1), (bit) => {
        const tampered = withPath(mainRevision.value, ['data', 'Photo'], blob(flipBit(photo, bit)));
        assertFails(() => verifyMain({ revision: tampered }), 'REVISION_HASH_MISMATCH', mainName);
      }),
      { numRuns: 50 },
    );
  });

  test('rejects removed or added data', () => {
    assertFails(
      () => verifyMain({ revision: withField(mainRevision.value, 'data', undefined) }),
      'REVISION_HASH_MISMATCH',
      mainDocument,
    );
    const withExtra = withPath(mainRevision.value, ['data', 'Stolen'], ion(true));
    assertFails(() => verifyMain({ revision: withExtra }), 'REVISION_HASH_MISMATCH', mainDocument);
  });

  test('rejects changed metadata', () => {
    const changes: [string[], dom.Value][] = [
      [['metadata', 'version'], ion(99)],
      [['metadata', 'txId'], ion('tx-forged')],
      [['metadata', 'id'], ion('doc-forged')],
      [['metadata', 'extra'], ion(1)],
    ];
    for (const [path, value] of changes) {
      assertFails(
        () => verifyMain({ revision: withPath(mainRevision.value, path, value) }),
        'REVISION_HASH_MISMATCH',
        mainName,
      );
    }
  });

  test('rejects a changed stored hash', () => {
    fc.assert(
      fc.property(fc.nat(255), (bit) => {
        const tampered = withField(
          mainRevision.value,
          'hash',
          blob(flipBit(mainRevision.hash, bit)),
        );
        assertFails(
          () => verifyMain({ revision: tampered }),
          'REVISION_HASH_MISMATCH',
          mainName,
          mainDocument,
        );
      }),
      { numRuns: 50 },
    );
  });

  test('rejects a block outside the digest tip', () => {
    assertFails(
      () => verifyMain({ tipAddress: { strandId: 'other', sequenceNo: 8 } }),
      'BLOCK_ADDRESS_MISMATCH',
      mainName,
      'differs from the digest tip',
    );
    assertFails(
      () => verifyMain({ tipAddress: `{strandId: "${STRAND}", sequenceNo: 4}` }),
      'BLOCK_ADDRESS_MISMATCH',
      mainName,
      'comes after the digest tip',
    );
  });

  test('rejects malformed proofs', () => {
    const cases: [unknown, string][] = [
      ['{}', 'expected an Ion list of blobs, got struct'],
      ['[1]', 'element 0: expected blob, got int'],
      [`[{{${Buffer.alloc(31).toString('base64')}}}]`, 'element 0: expected 32 bytes, got 31'],
      ['[{{', 'invalid Ion'],
      [
        [new Uint8Array(32), new Uint8Array(33)],
        'proof element 1: expected 32 bytes, got 33 bytes',
      ],
      [['abc'], 'proof element 0: expected 32 bytes, got string'],
    ];
    for (const [proof, message] of cases) {
      const error = assertFails(
        () => verifyMain({ proof: proof as string }),
        'MALFORMED_PROOF',
        mainName,
        message,
      );
      assert.deepEqual(error.blockAddress, main.block.address);
    }
  });

  test('rejects a malformed revision', () => {
    const noAddress = withField(mainRevision.value, 'blockAddress', undefined);
    assertFails(
      () => verifyMain({ revision: noAddress }),
      'MALFORMED_REVISION',
      'blockAddress: missing field',
    );
    const noHash = withField(mainRevision.value, 'hash', undefined);
    assertFails(
      () => verifyMain({ revision: noHash }),
      'MALFORMED_REVISION',
      mainName,
      'hash: missing field',
    );
    const duplicated = dumpText(mainRevision.value).replace(
      /}$/,
      `, hash: {{${Buffer.from(mainRevision.hash).toString('base64')}}}}`,
    );
    assertFails(
      () => verifyMain({ revision: duplicated }),
      'MALFORMED_REVISION',
      'hash: expected 1 field, got 2',
    );
  });

  test('raises only VerificationError for mutated revision text', () => {
    const text = dumpText(mainRevision.value);
    fc.assert(
      fc.property(fc.nat(text.length - 1), fc.string({ maxLength: 2 }), (position, insert) => {
        const mutated = text.slice(0, position) + insert + text.slice(position + 1);
        try {
          verifyMain({ revision: mutated });
        } catch (error) {
          assert.ok(error instanceof VerificationError, String(error));
        }
      }),
      { numRuns: 200 },
    );
  });

  test('rejects wrong argument types', () => {
    assert.throws(() => verifyRevision(undefined as never), {
      name: 'TypeError',
      message: 'options: expected an object, got undefined',
    });
    assert.throws(() => verifyMain({ digest: main.digest.subarray(0, 31) }), {
      name: 'RangeError',
      message: 'digest: expected 32 bytes, got 31',
    });
    assert.throws(() => verifyMain({ digest: hex(main.digest) as unknown as Uint8Array }), {
      name: 'TypeError',
      message: 'digest: expected Uint8Array, got string',
    });
    assert.throws(() => verifyMain({ proof: 5 as unknown as string }), {
      name: 'TypeError',
      message: 'proof: expected Ion text or an array of Uint8Array, got number',
    });
    assert.throws(() => verifyMain({ tipAddress: { strandId: STRAND, sequenceNo: -1 } }), {
      name: 'RangeError',
    });
    assertFails(() => verifyMain({ tipAddress: '{strandId: 1}' }), 'MALFORMED_TIP_ADDRESS');
  });
});
