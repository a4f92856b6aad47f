import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dom, dumpText, makeBinaryWriter } from 'ion-js';
import { cryptoHasherProvider, makeHashWriter } from 'ion-hash-js';
import { verifyLedger } from '../../../src/cli/verify-ledger.js';
import { Engine, type Ledger } from '../../../src/engine/index.js';
import { hashMetadata, hashTransactionInfo } from '../../../src/engine/journal/journal-hash.js';
import { metadataToIon, transactionInfoToIon } from '../../../src/engine/journal/journal-ion.js';
import type {
  RevisionMetadata,
  StatementInfo,
  DocumentInfo,
  TransactionInfo,
} from '../../../src/engine/journal/journal-types.js';
import {
  VerificationError,
  verifyBlock,
  verifyConsistency,
  verifyRevision,
  type VerificationErrorCode,
} from '../../../src/verifier/index.js';
import { tempDir } from '../../helpers/backends.js';
import {
  buildJournal,
  SeededRandom,
  type BuiltJournal,
  type WrittenRevision,
} from '../../helpers/journal-builder.js';

/** Fixed, so that a failure reproduces with the same journal and the same sampled cases. */
const SEED = 0x5eed_0001;
const LEDGER_SIZES = [1, 2, 3, 1000] as const;
/** Cases sampled from the 1,000-block ledger; the small ledgers are checked exhaustively. */
const SAMPLES = 40;

interface JournalUnderTest {
  ledger: Ledger;
  journal: BuiltJournal;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

const tipAddress = (ledger: Ledger, sequenceNo: number) => ({ strandId: ledger.id, sequenceNo });

/** Runs `check`, prefixing any error message with `caseName` so a failure names its case. */
function inCase<T>(caseName: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${caseName}: ${message}`, { cause: error });
  }
}

function assertRejected(
  check: () => unknown,
  codes: VerificationErrorCode[],
  caseName: string,
): void {
  assert.throws(
    check,
    (error: unknown) => {
      assert.ok(
        error instanceof VerificationError,
        `${caseName}: expected a VerificationError, got ${String(error)}`,
      );
      assert.ok(
        codes.includes(error.code),
        `${caseName}: expected code ${codes.join(' or ')}, got ${error.code}: ${error.message}`,
      );
      return true;
    },
    `${caseName}: the verifier accepted it`,
  );
}

/**
 * Returns every tip from `seq` to `lastTip` when there are few, else `seq`, `lastTip` and 2
 * random tips between them.
 */
function tipsCovering(seq: number, lastTip: number, random: SeededRandom): number[] {
  if (lastTip - seq < 8) return Array.from({ length: lastTip - seq + 1 }, (_, i) => seq + i);
  const tips = new Set([lastTip, seq, random.between(seq, lastTip), random.between(seq, lastTip)]);
  return [...tips];
}

interface LocatedRevision {
  seq: number;
  revision: WrittenRevision;
}

/**
 * Returns every revision of the journal when there are few. Otherwise it returns a sample with
 * the first deletion, the first revision of a block with several revisions, the first revision
 * of block 1 and the last revision of the journal.
 */
function revisionsToCheck(journal: BuiltJournal, random: SeededRandom): LocatedRevision[] {
  const all = journal.blocks.flatMap((revisions, seq) =>
    revisions.map((revision) => ({ seq, revision })),
  );
  if (all.length <= SAMPLES) return all;

  const chosen = new Set<LocatedRevision>();
  const deletion = all.find(({ revision }) => revision.data === undefined);
  const crowded = all.find(({ seq }) => journal.blocks[seq]!.length >= 3);
  for (const located of [deletion, crowded, all[0], all.at(-1)]) {
    if (located !== undefined) chosen.add(located);
  }
  while (chosen.size < SAMPLES) chosen.add(random.pick(all));
  return [...chosen];
}

/**
 * Returns every block when there are few, else a sample with the first and last blocks and the
 * blocks around powers of two.
 */
function blocksToCheck(lastTip: number, random: SeededRandom): number[] {
  if (lastTip < SAMPLES) return Array.from({ length: lastTip + 1 }, (_, seq) => seq);
  const chosen = new Set([0, 1, 2, 255, 256, 511, 512, lastTip - 1, lastTip]);
  while (chosen.size < SAMPLES) chosen.add(random.between(0, lastTip));
  return [...chosen];
}

/** Returns every pair a <= b when there are few, else edge pairs and random ones. */
function consistencyPairs(lastTip: number, random: SeededRandom): Array<[number, number]> {
  if (lastTip < 10) {
    const pairs: Array<[number, number]> = [];
    for (let a = 0; a <= lastTip; a++) for (let b = a; b <= lastTip; b++) pairs.push([a, b]);
    return pairs;
  }
  const pairs: Array<[number, number]> = [
    [0, 0],
    [0, 1],
    [0, lastTip],
    [lastTip, lastTip],
    [lastTip - 1, lastTip],
  ];
  // A consistency proof from a tree of 1, 2, 4, ... 512 blocks omits the first root, which the
  // verifier then supplies itself.
  for (const a of [1, 3, 7, 15, 255, 511]) pairs.push([a, random.between(a, lastTip)]);
  for (const a of [2, 4, 6, 300, 512]) pairs.push([a, random.between(a, lastTip)]);
  for (let i = 0; i < 5; i++) {
    const a = random.between(0, lastTip);
    pairs.push([a, a]);
  }
  for (let i = 0; i < 30; i++) {
    const a = random.between(0, lastTip);
    pairs.push([a, random.between(a, lastTip)]);
  }
  return pairs;
}

async function checkRevisionProof(
  ledger: Ledger,
  { seq, revision: expected }: LocatedRevision,
  tip: number,
): Promise<void> {
  const caseName = `revision ${expected.docId} v${expected.version} in block ${seq} at tip ${tip}`;
  const { revision, proof } = await ledger.getRevision(seq, expected.docId, tip);
  assert.ok(proof !== undefined, `${caseName}: getRevision with a tip returned no proof`);
  const digest = await ledger.digestAt(tip);

  const verified = inCase(caseName, () =>
    verifyRevision({ revision, proof, digest, tipAddress: tipAddress(ledger, tip) }),
  );
  assert.equal(verified.documentId, expected.docId, `${caseName}: verified document id`);
  assert.equal(verified.version, expected.version, `${caseName}: verified version`);
  assert.equal(verified.blockAddress.sequenceNo, seq, `${caseName}: verified block`);

  const data = revision.get('data');
  if (expected.data === undefined) {
    assert.equal(data, null, `${caseName}: a deletion revision has no data`);
  } else {
    assert.ok(data !== null, `${caseName}: the revision has no data`);
    assert.equal(
      dumpText(data),
      dumpText(expected.data),
      `${caseName}: data differs from the write`,
    );
  }
}

async function checkBlockProof(
  ledger: Ledger,
  journal: BuiltJournal,
  seq: number,
  tip: number,
): Promise<void> {
  const caseName = `block ${seq} at tip ${tip}`;
  const { block, proof } = await ledger.getBlock(seq, tip);
  assert.ok(proof !== undefined, `${caseName}: getBlock with a tip returned no proof`);
  const digest = await ledger.digestAt(tip);

  const verified = inCase(caseName, () =>
    verifyBlock({ block, proof, digest, tipAddress: tipAddress(ledger, tip) }),
  );
  assert.equal(verified.blockAddress.sequenceNo, seq, `${caseName}: verified block address`);

  const expectedIds = journal.blocks[seq]!.map((revision) => revision.docId).sort();
  const revisions = block.get('revisions')?.elements() ?? [];
  const actualIds = revisions.map((revision) => revision.get('metadata', 'id')!.stringValue()!);
  assert.deepEqual(actualIds.sort(), expectedIds, `${caseName}: revisions differ from the writes`);
  assert.equal(verified.revisionCount, expectedIds.length, `${caseName}: verified revision count`);
}

async function checkConsistencyProof(ledger: Ledger, a: number, b: number): Promise<void> {
  const proof = await ledger.consistencyProof(a, b);
  const [first, second] = [await ledger.digestAt(a), await ledger.digestAt(b)];
  inCase(`consistency proof from tip ${a} to ${b}`, () =>
    verifyConsistency(a + 1, b + 1, first, second, proof),
  );
}

describe('journal proofs', () => {
  const dir = tempDir();
  let engine: Engine;
  const ledgers = new Map<number, JournalUnderTest>();

  before(async () => {
    engine = await Engine.open({ dataDir: dir.path });
    for (const size of LEDGER_SIZES) {
      const name = `journal-${size}`;
      await engine.createLedger(name);
      const ledger = await engine.ledger(name);
      const journal = await buildJournal(ledger, size, new SeededRandom(SEED + size));
      ledgers.set(size, { ledger, journal });
    }
  });
  after(async () => {
    await engine.close();
    dir.remove();
  });

  const underTest = (size: number): JournalUnderTest => ledgers.get(size)!;

  test('built journals have the planned shape', () => {
    for (const size of LEDGER_SIZES) {
      const { ledger, journal } = underTest(size);
      assert.equal(ledger.tipSeq, size - 1, `${size}-block ledger: tip`);
      assert.equal(journal.blocks.length, size, `${size}-block ledger: blocks written`);
    }
    const large = underTest(1000).journal.blocks;
    const revisions = large.flat();
    assert.ok(
      revisions.some((revision) => revision.data === undefined),
      'the 1,000-block journal has no deletion revision',
    );
    assert.ok(
      large.some((block) => block.length >= 3),
      'the 1,000-block journal has no block with 3 or more revisions',
    );
    assert.ok(
      large.slice(1).some((block) => block.length === 0),
      'the 1,000-block journal has no block without revisions after the genesis block',
    );
    assert.ok(
      revisions.some((revision) => revision.version >= 2),
      'the 1,000-block journal has no document with 3 or more revisions',
    );
  });

  for (const size of LEDGER_SIZES) {
    describe(`${size}-block ledger`, () => {
      if (size === 1) {
        test('genesis block has no revisions', async () => {
          const { ledger } = underTest(size);
          const { block } = await ledger.getBlock(0, 0);
          assert.equal(block.get('revisions'), null, 'the genesis block lists revisions');
          await assert.rejects(
            ledger.getRevision(0, '0000000000000000000000', 0),
            { code: 'InvalidParameterException' },
            'getRevision in the genesis block returned a revision',
          );
        });
      } else {
        test('revision proofs verify at tips', async () => {
          const { ledger, journal } = underTest(size);
          const random = new SeededRandom(SEED ^ size);
          const lastTip = ledger.tipSeq;
          for (const located of revisionsToCheck(journal, random)) {
            for (const tip of tipsCovering(located.seq, lastTip, random)) {
              await checkRevisionProof(ledger, located, tip);
            }
          }
        });
      }

      test('block proofs verify at tips', async () => {
        const { ledger, journal } = underTest(size);
        const random = new SeededRandom(SEED ^ (size * 3));
        const lastTip = ledger.tipSeq;
        for (const seq of blocksToCheck(lastTip, random)) {
          for (const tip of tipsCovering(seq, lastTip, random)) {
            await checkBlockProof(ledger, journal, seq, tip);
          }
        }
      });

      test('consistency proofs verify between digests', async () => {
        const { ledger } = underTest(size);
        const random = new SeededRandom(SEED ^ (size * 5));
        for (const [a, b] of consistencyPairs(ledger.tipSeq, random)) {
          await checkConsistencyProof(ledger, a, b);
        }
      });

      test('verifyLedger matches ledger digest', async () => {
        const { ledger } = underTest(size);
        const { digest, tipAddress: tip } = await ledger.digest();
        const result = await verifyLedger(ledger);
        assert.equal(result.blocks, size, 'verified block count');
        assert.deepEqual(result.tipAddress, tip, 'verified tip address');
        assert.equal(hex(result.digest), hex(digest), 'recomputed digest differs from the ledger');
        assert.equal(hex(result.ledgerDigest), hex(digest), 'reported ledger digest');
      });
    });
  }

  describe('altered proofs', () => {
    let ledger: Ledger;
    let lastTip: number;
    let revisionCase: { revision: dom.Value; proof: Uint8Array[]; digest: Uint8Array };
    let blockCase: { block: dom.Value; proof: Uint8Array[]; digest: Uint8Array };
    let consistencyCase: {
      from: number;
      to: number;
      proof: Uint8Array[];
      first: Uint8Array;
      second: Uint8Array;
    };

    before(async () => {
      const { ledger: large, journal } = underTest(1000);
      ledger = large;
      lastTip = ledger.tipSeq;
      const digest = await ledger.digestAt(lastTip);

      // A block with several revisions, so the proof starts with revision siblings.
      const seq = journal.blocks.findIndex((revisions) => revisions.length >= 3);
      const docId = journal.blocks[seq]![1]!.docId;
      const revision = await ledger.getRevision(seq, docId, lastTip);
      revisionCase = { revision: revision.revision, proof: revision.proof!, digest };

      const block = await ledger.getBlock(300, lastTip);
      blockCase = { block: block.block, proof: block.proof!, digest };

      const [from, to] = [300, lastTip];
      consistencyCase = {
        from,
        to,
        proof: await ledger.consistencyProof(from, to),
        first: await ledger.digestAt(from),
        second: digest,
      };
      for (const [name, proof] of [
        ['revision', revisionCase.proof],
        ['block', blockCase.proof],
        ['consistency', consistencyCase.proof],
      ] as const) {
        assert.ok(proof.length >= 3, `the ${name} proof has ${proof.length} hashes, expected 3+`);
      }
    });

    const verifyRevisionWith = (proof: Uint8Array[], digest = revisionCase.digest) =>
      verifyRevision({
        revision: revisionCase.revision,
        proof,
        digest,
        tipAddress: tipAddress(ledger, lastTip),
      });
    const verifyBlockWith = (proof: Uint8Array[], digest = blockCase.digest) =>
      verifyBlock({
        block: blockCase.block,
        proof,
        digest,
        tipAddress: tipAddress(ledger, lastTip),
      });
    const verifyConsistencyWith = (
      proof: Uint8Array[],
      first = consistencyCase.first,
      second = consistencyCase.second,
    ) => verifyConsistency(consistencyCase.from + 1, consistencyCase.to + 1, first, second, proof);

    test('unaltered proofs verify', () => {
      inCase('revision proof', () => verifyRevisionWith(revisionCase.proof));
      inCase('block proof', () => verifyBlockWith(blockCase.proof));
      inCase('consistency proof', () => verifyConsistencyWith(consistencyCase.proof));
    });

    test('flipped proof bit is rejected', () => {
      const random = new SeededRandom(SEED ^ 0xb17);
      const flipped = (proof: Uint8Array[], index: number): Uint8Array[] => {
        const bit = random.int(256);
        return proof.map((hash, i) => {
          if (i !== index) return hash;
          const copy = new Uint8Array(hash);
          copy[bit >> 3] = copy[bit >> 3]! ^ (1 << (bit & 7));
          return copy;
        });
      };
      revisionCase.proof.forEach((_, index) =>
        assertRejected(
          () => verifyRevisionWith(flipped(revisionCase.proof, index)),
          ['PROOF_MISMATCH'],
          `revision proof with a bit of element ${index} flipped`,
        ),
      );
      blockCase.proof.forEach((_, index) =>
        assertRejected(
          () => verifyBlockWith(flipped(blockCase.proof, index)),
          ['PROOF_MISMATCH'],
          `block proof with a bit of element ${index} flipped`,
        ),
      );
      consistencyCase.proof.forEach((_, index) =>
        assertRejected(
          () => verifyConsistencyWith(flipped(consistencyCase.proof, index)),
          ['CONSISTENCY_MISMATCH'],
          `consistency proof with a bit of element ${index} flipped`,
        ),
      );
    });

    test('reordered proof is rejected', () => {
      // Equal neighbours are skipped: in a revision proof for a block with an odd sequence
      // number, the previous block hash is followed by the same hash as the block's sibling
      // in the block tree.
      const reorderings = (proof: Uint8Array[]): Array<[string, Uint8Array[]]> => {
        const reordered: Array<[string, Uint8Array[]]> = [];
        for (let i = 0; i + 1 < proof.length; i++) {
          if (hex(proof[i]!) === hex(proof[i + 1]!)) continue;
          const swapped = [...proof];
          [swapped[i], swapped[i + 1]] = [proof[i + 1]!, proof[i]!];
          reordered.push([`elements ${i} and ${i + 1} swapped`, swapped]);
        }
        reordered.push(['reversed', [...proof].reverse()]);
        return reordered;
      };
      for (const [how, proof] of reorderings(revisionCase.proof)) {
        assertRejected(
          () => verifyRevisionWith(proof),
          ['PROOF_MISMATCH'],
          `revision proof ${how}`,
        );
      }
      for (const [how, proof] of reorderings(blockCase.proof)) {
        assertRejected(() => verifyBlockWith(proof), ['PROOF_MISMATCH'], `block proof ${how}`);
      }
      for (const [how, proof] of reorderings(consistencyCase.proof)) {
        assertRejected(
          () => verifyConsistencyWith(proof),
          ['CONSISTENCY_MISMATCH'],
          `consistency proof ${how}`,
        );
      }
    });

    test('truncated proof is rejected', () => {
      const truncations = (proof: Uint8Array[]): Array<[string, Uint8Array[]]> => [
        ['without its last element', proof.slice(0, -1)],
        ['without its first element', proof.slice(1)],
        ['emptied', []],
      ];
      // A revision proof may be longer than its minimum length, so dropping one hash can
      // leave a proof of plausible length that folds to another root.
      for (const [how, proof] of truncations(revisionCase.proof)) {
        assertRejected(
          () => verifyRevisionWith(proof),
          ['MALFORMED_PROOF', 'PROOF_MISMATCH'],
          `revision proof ${how}`,
        );
      }
      for (const [how, proof] of truncations(blockCase.proof)) {
        assertRejected(() => verifyBlockWith(proof), ['MALFORMED_PROOF'], `block proof ${how}`);
        assertRejected(
          () => verifyBlock({ block: blockCase.block, proof, digest: blockCase.digest }),
          ['PROOF_MISMATCH'],
          `block proof ${how}, verified without a tip address`,
        );
      }
      for (const [how, proof] of truncations(consistencyCase.proof)) {
        assertRejected(
          () => verifyConsistencyWith(proof),
          ['MALFORMED_PROOF'],
          `consistency proof ${how}`,
        );
      }
    });

    test('wrong digest is rejected', async () => {
      const earlier = await ledger.digestAt(lastTip - 1);
      const flipped = new Uint8Array(revisionCase.digest);
      flipped[0] = flipped[0]! ^ 0x01;

      for (const [how, digest] of [
        ['the digest of the previous tip', earlier],
        ['a digest with one bit flipped', flipped],
      ] as const) {
        assertRejected(
          () => verifyRevisionWith(revisionCase.proof, digest),
          ['PROOF_MISMATCH'],
          `revision proof against ${how}`,
        );
        assertRejected(
          () => verifyBlockWith(blockCase.proof, digest),
          ['PROOF_MISMATCH'],
          `block proof against ${how}`,
        );
        assertRejected(
          () => verifyConsistencyWith(consistencyCase.proof, consistencyCase.first, digest),
          ['CONSISTENCY_MISMATCH'],
          `consistency proof to ${how}`,
        );
      }

      const otherFirst = await ledger.digestAt(consistencyCase.from - 1);
      assertRejected(
        () => verifyConsistencyWith(consistencyCase.proof, otherFirst),
        ['CONSISTENCY_MISMATCH'],
        'consistency proof from the digest of another tip',
      );
      assertRejected(
        () => verifyConsistency(lastTip + 1, lastTip + 1, revisionCase.digest, earlier, []),
        ['CONSISTENCY_MISMATCH'],
        'empty consistency proof between different digests of one size',
      );
    });
  });
});

// Fast journal hashes against ion-hash-js over the Ion values that GetBlock and GetRevision
// return.

function referenceHash(value: dom.Value): string {
  const writer = makeHashWriter(makeBinaryWriter(), cryptoHasherProvider('sha256'));
  value.writeTo(writer);
  return hex(writer.digest());
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const MARKERS = '\u000b\u000c\u000e';
/** Ion timestamps cover years 1 to 9999. */
const FIRST_MILLIS = Date.parse('0001-01-01T00:00:00.000Z');
const LAST_MILLIS = Date.parse('9999-12-31T23:59:59.999Z');

const idArb = fc.string({ unit: fc.constantFrom(...BASE62), minLength: 22, maxLength: 22 });
const textArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({
    unit: fc.constantFrom('\u000b', '\u000c', '\u000e', '\u0000', 'a', ' ', 'é', '中', '😀', '"'),
    maxLength: 20,
  }),
);
const millisArb = fc.oneof(
  fc.integer({ min: Date.parse('2000-01-01T00:00:00Z'), max: Date.parse('2100-01-01T00:00:00Z') }),
  fc.integer({ min: FIRST_MILLIS, max: LAST_MILLIS }),
);
const bytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc
    .array(fc.constantFrom(0x0b, 0x0c, 0x0e, 0x00, 0xff), { maxLength: 40 })
    .map((bytes) => Uint8Array.from(bytes)),
);

const metadataArb: fc.Arbitrary<RevisionMetadata> = fc.record({
  id: fc.oneof(idArb, textArb),
  version: fc.oneof(fc.nat(100), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
  txTime: millisArb,
  txId: fc.oneof(idArb, textArb),
});

const statementArb: fc.Arbitrary<StatementInfo> = fc.record({
  statement: textArb,
  startTime: millisArb,
  statementDigest: bytesArb,
});

const documentArb: fc.Arbitrary<DocumentInfo> = fc.record({
  tableName: textArb,
  tableId: fc.oneof(idArb, textArb),
  statements: fc.array(fc.nat(64), { maxLength: 6 }),
});

const transactionInfoArb: fc.Arbitrary<TransactionInfo> = fc.record({
  statements: fc.array(statementArb, { maxLength: 8 }),
  documents: fc
    .uniqueArray(fc.tuple(idArb, documentArb), {
      selector: ([docId]) => docId,
      maxLength: 60,
    })
    .map((entries) => new Map(entries)),
});

function documentsOf(count: number, statements: number[]): Map<string, DocumentInfo> {
  const documents = new Map<string, DocumentInfo>();
  for (let i = 0; i < count; i++) {
    const docId = `doc${String(i).padStart(19, '0')}`;
    documents.set(docId, { tableName: 'Item', tableId: 'T'.repeat(22), statements });
  }
  return documents;
}

describe('journal hashes', () => {
  test('metadata hash matches ion-hash-js', () => {
    const cases: Array<[string, RevisionMetadata]> = [
      ['first version', { id: '4o5UZjMqEdgENqbP9nTNL1', version: 0, txTime: 0, txId: 'tx' }],
      [
        'whole-second time',
        { id: 'A'.repeat(22), version: 1, txTime: Date.UTC(2024, 1, 29, 12), txId: 'B'.repeat(22) },
      ],
      [
        'millisecond time',
        { id: 'a', version: 2 ** 31, txTime: Date.UTC(2030, 11, 31, 23, 59, 59, 999), txId: 'c' },
      ],
      ['time before 1970', { id: 'z', version: 7, txTime: -1, txId: 'y' }],
      [
        'largest safe version',
        { id: 'x', version: Number.MAX_SAFE_INTEGER, txTime: LAST_MILLIS, txId: '' },
      ],
      [
        'marker bytes and unicode',
        { id: `${MARKERS}Grüße 😀`, version: 3, txTime: FIRST_MILLIS, txId: `中${MARKERS}` },
      ],
    ];
    for (const [name, metadata] of cases) {
      assert.equal(
        hex(hashMetadata(metadata)),
        referenceHash(metadataToIon(metadata)),
        `${name}: hashMetadata differs from the Ion hash of metadataToIon`,
      );
    }
  });

  test('random metadata hashes match', () => {
    fc.assert(
      fc.property(metadataArb, (metadata) => {
        assert.equal(hex(hashMetadata(metadata)), referenceHash(metadataToIon(metadata)));
      }),
      { numRuns: 300 },
    );
  });

  test('transaction info hash matches ion-hash-js', () => {
    const time = Date.UTC(2025, 0, 2, 3, 4, 5, 6);
    const markerDigest = Uint8Array.from([0x0b, 0x0c, 0x0e, 0x0b, 0x0e, 0x0c, 0x00, 0xff]);
    const cases: Array<[string, TransactionInfo]> = [
      ['empty lists', { statements: [], documents: new Map() }],
      [
        'empty text and digest',
        {
          statements: [{ statement: '', startTime: 0, statementDigest: new Uint8Array(0) }],
          documents: new Map(),
        },
      ],
      [
        'unicode statement with marker bytes',
        {
          statements: [
            {
              statement: `SELECT * FROM Grüße WHERE name = '日本語 😀 ${MARKERS}'`,
              startTime: time,
              statementDigest: markerDigest,
            },
          ],
          documents: documentsOf(1, [0]),
        },
      ],
      ['documents without statements', { statements: [], documents: documentsOf(3, []) }],
      [
        'many documents',
        {
          statements: Array.from({ length: 40 }, (_, i) => ({
            statement: `INSERT INTO Item ?${MARKERS.repeat(i % 3)}`,
            startTime: time + i,
            statementDigest: new Uint8Array(32).fill(i),
          })),
          documents: documentsOf(500, [0, 1, 39]),
        },
      ],
      [
        'marker bytes in table names and ids',
        {
          statements: [],
          documents: new Map([
            [`${MARKERS}doc`, { tableName: `T${MARKERS}`, tableId: MARKERS, statements: [0, 0] }],
          ]),
        },
      ],
    ];
    for (const [name, info] of cases) {
      assert.equal(
        hex(hashTransactionInfo(info)),
        referenceHash(transactionInfoToIon(info)),
        `${name}: hashTransactionInfo differs from the Ion hash of transactionInfoToIon`,
      );
    }
  });

  test('hashes match when cached parts repeat', () => {
    // Few tables, statement indexes and times, so that the cached document
    // entries and txTime fields are reused across calls.
    const tables = [
      { tableName: 'Item', tableId: 'A'.repeat(22) },
      { tableName: 'Item', tableId: 'B'.repeat(22) },
      { tableName: 'Order\u000b', tableId: 'C'.repeat(22) },
    ];
    const repeating = fc.record({
      statements: fc.array(statementArb, { maxLength: 2 }),
      documents: fc
        .uniqueArray(
          fc.tuple(idArb, fc.constantFrom(...tables), fc.array(fc.nat(1), { maxLength: 2 })),
          { selector: ([docId]) => docId, maxLength: 4 },
        )
        .map(
          (entries) =>
            new Map(entries.map(([docId, table, statements]) => [docId, { ...table, statements }])),
        ),
    });
    const step = fc
      .tuple(repeating, metadataArb, fc.constantFrom(0, 1, 1_764_000_000_000))
      .map(([info, metadata, txTime]) => ({ info, metadata: { ...metadata, txTime } }));
    const sequence = fc.array(step, { minLength: 2, maxLength: 12 });
    fc.assert(
      fc.property(sequence, (steps) => {
        for (const { info, metadata } of steps) {
          assert.equal(hex(hashTransactionInfo(info)), referenceHash(transactionInfoToIon(info)));
          assert.equal(hex(hashMetadata(metadata)), referenceHash(metadataToIon(metadata)));
        }
      }),
      { numRuns: 100 },
    );
  });

  test('random transaction info hashes match', () => {
    fc.assert(
      fc.property(transactionInfoArb, (info) => {
        assert.equal(hex(hashTransactionInfo(info)), referenceHash(transactionInfoToIon(info)));
      }),
      { numRuns: 200 },
    );
  });
});
