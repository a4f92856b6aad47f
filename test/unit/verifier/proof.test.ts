import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import fc from 'fast-check';

import {
  VerificationError,
  parseDigestTipAddress,
  parseProof,
} from '../../../src/verifier/index.js';
import { Random, STRAND, assertFails, proofText } from './helpers.js';

const hashes = new Random(11).hashes(3);
const validText = proofText(hashes);

function base64(length: number): string {
  return Buffer.alloc(length, 7).toString('base64');
}

describe('parseProof', () => {
  test('parses a list of blobs in order', () => {
    assert.deepEqual(parseProof(validText), hashes);
  });

  test('parses QLDB-style text with spacing', () => {
    const text = ` [ {{ ${base64(32)} }} ,\n{{${base64(32)}}} ] `;
    assert.deepEqual(parseProof(text), [new Uint8Array(32).fill(7), new Uint8Array(32).fill(7)]);
  });

  test('parses an empty list', () => {
    assert.deepEqual(parseProof('[]'), []);
  });

  test('returns plain Uint8Arrays', () => {
    for (const hash of parseProof(validText)) {
      assert.equal(Object.getPrototypeOf(hash), Uint8Array.prototype);
    }
  });

  const notLists: [string, string][] = [
    ['struct', '{a: 1}'],
    ['sexp', `({{${base64(32)}}})`],
    ['bare blob', `{{${base64(32)}}}`],
    ['null list', 'null.list'],
    ['null', 'null'],
    ['int', '5'],
    ['string', '"[]"'],
  ];
  for (const [name, text] of notLists) {
    test(`rejects a ${name}`, () => {
      assertFails(
        () => parseProof(text),
        'MALFORMED_PROOF',
        'proof: expected an Ion list of blobs',
      );
    });
  }

  const badElements: [string, string, string][] = [
    ['an int', `[{{${base64(32)}}}, 1]`, 'element 1: expected blob, got int'],
    ['a string', '["abc"]', 'element 0: expected blob, got string'],
    ['a clob', '[{{"abc"}}]', 'element 0: expected blob, got clob'],
    ['a null blob', '[null.blob]', 'element 0: expected blob, got null.blob'],
    ['a nested list', `[[{{${base64(32)}}}]]`, 'element 0: expected blob, got list'],
    ['a 31-byte blob', `[{{${base64(31)}}}]`, 'element 0: expected 32 bytes, got 31'],
    [
      'a 33-byte blob',
      `[{{${base64(32)}}}, {{${base64(33)}}}]`,
      'element 1: expected 32 bytes, got 33',
    ],
    ['an empty blob', '[{{}}]', 'element 0: expected 32 bytes, got 0'],
    [
      'an annotated blob',
      `[hash::{{${base64(32)}}}]`,
      'element 0: expected a blob without annotations',
    ],
  ];
  for (const [name, text, message] of badElements) {
    test(`rejects ${name}`, () => {
      assertFails(() => parseProof(text), 'MALFORMED_PROOF', message);
    });
  }

  test('rejects an annotated list', () => {
    assertFails(() => parseProof(`proof::[]`), 'MALFORMED_PROOF', 'without annotations');
  });

  const badIon: [string, string][] = [
    ['an unclosed list', `[{{${base64(32)}}}`],
    ['missing commas', '[1 2]'],
    ['invalid base64', '[{{not base64!}}]'],
    ['a stray bracket', '[]]'],
  ];
  for (const [name, text] of badIon) {
    test(`rejects Ion text with ${name}`, () => {
      const error = assertFails(() => parseProof(text), 'MALFORMED_PROOF', 'proof: invalid Ion:');
      assert.ok(error.cause instanceof Error);
    });
  }

  test('rejects empty text and several values', () => {
    assertFails(() => parseProof(''), 'MALFORMED_PROOF', 'expected 1 Ion value, got 0');
    assertFails(() => parseProof('[] []'), 'MALFORMED_PROOF', 'expected 1 Ion value, got 2');
  });

  test('rejects input that is not a string', () => {
    assert.throws(() => parseProof(hashes as unknown as string), {
      name: 'TypeError',
      message: 'ionText: expected a string, got array',
    });
    assert.throws(() => parseProof(undefined as unknown as string), { name: 'TypeError' });
  });

  test('raises only VerificationError for mutated text', () => {
    fc.assert(
      fc.property(fc.nat(validText.length - 1), fc.string({ maxLength: 3 }), (position, insert) => {
        const text = validText.slice(0, position) + insert + validText.slice(position + 1);
        try {
          for (const hash of parseProof(text)) assert.equal(hash.length, 32);
        } catch (error) {
          assert.ok(error instanceof VerificationError, String(error));
          assert.equal(error.code, 'MALFORMED_PROOF');
        }
      }),
      { numRuns: 300 },
    );
  });

  test('raises only VerificationError for arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        try {
          parseProof(text);
        } catch (error) {
          assert.ok(error instanceof VerificationError, String(error));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseDigestTipAddress', () => {
  test('parses a QLDB tip address', () => {
    assert.deepEqual(parseDigestTipAddress(`{strandId:"${STRAND}",sequenceNo:42}`), {
      strandId: STRAND,
      sequenceNo: 42,
    });
  });

  test('ignores other fields', () => {
    assert.deepEqual(parseDigestTipAddress('{sequenceNo: 0, strandId: "s", note: "x"}'), {
      strandId: 's',
      sequenceNo: 0,
    });
  });

  const bad: [string, string, string][] = [
    ['a missing strandId', '{sequenceNo: 1}', 'strandId: missing field'],
    ['a missing sequenceNo', '{strandId: "s"}', 'sequenceNo: missing field'],
    ['a symbol strandId', '{strandId: s, sequenceNo: 1}', 'strandId: expected string, got symbol'],
    [
      'a string sequenceNo',
      '{strandId: "s", sequenceNo: "1"}',
      'sequenceNo: expected int, got string',
    ],
    [
      'a decimal sequenceNo',
      '{strandId: "s", sequenceNo: 1.0}',
      'sequenceNo: expected int, got decimal',
    ],
    ['a negative sequenceNo', '{strandId: "s", sequenceNo: -1}', 'expected an int from 0 to'],
    ['a huge sequenceNo', '{strandId: "s", sequenceNo: 9007199254740992}', 'got 9007199254740992'],
    [
      'a repeated field',
      '{strandId: "s", strandId: "t", sequenceNo: 1}',
      'strandId: expected 1 field, got 2',
    ],
    ['a list', '[1]', 'expected struct, got list'],
    ['a null struct', 'null.struct', 'expected struct, got null.struct'],
    ['invalid Ion', '{strandId: "s"', 'invalid Ion'],
  ];
  for (const [name, text, message] of bad) {
    test(`rejects ${name}`, () => {
      assertFails(
        () => parseDigestTipAddress(text),
        'MALFORMED_TIP_ADDRESS',
        'digest tip address',
        message,
      );
    });
  }

  test('rejects input that is not a string', () => {
    assert.throws(
      () => parseDigestTipAddress({ strandId: 's', sequenceNo: 1 } as unknown as string),
      {
        name: 'TypeError',
        message: 'ionText: expected a string, got Object',
      },
    );
  });
});
