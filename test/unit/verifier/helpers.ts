// Reference implementations and journal builders for the verifier tests, written
// independently of src/verifier. Here dot compares through an Int8Array view, and Merkle trees
// follow the recursive definitions of RFC 9162 §2.1. Ion hashes come from ion-hash-js's hash
// reader over Ion text, while the verifier uses its hash writer over dom values.
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';

import { Timestamp, dom, dumpText, load, makeReader } from 'ion-js';
import { cryptoHasherProvider, makeHashReader } from 'ion-hash-js';

import type { VerificationErrorCode } from '../../../src/verifier/index.js';
import { VerificationError } from '../../../src/verifier/index.js';

export interface Address {
  strandId: string;
  sequenceNo: number;
}

export const STRAND = 'JdxjkR9bSYB5jMHWcI464T';

// ---------------------------------------------------------------------------------------------
// Bytes and randomness

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Deterministic PRNG (mulberry32), so failures reproduce from the seed in the test. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, bound). */
  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  bytes(length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = this.int(256);
    return bytes;
  }

  hashes(count: number): Uint8Array[] {
    return Array.from({ length: count }, () => this.bytes(32));
  }
}

export function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[bit >> 3] = (copy[bit >> 3] as number) ^ (1 << (bit & 7));
  return copy;
}

/** Copy of `hashes` with bit `bit` of element `index` flipped. */
export function flipInList(hashes: Uint8Array[], index: number, bit: number): Uint8Array[] {
  return hashes.map((hash, i) => (i === index ? flipBit(hash, bit) : hash));
}

// ---------------------------------------------------------------------------------------------
// Reference hashing

/** QLDB's dot: SHA-256 of the smaller hash then the larger, compared as signed bytes from 31. */
export function refDot(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const signedA = new Int8Array(a.buffer, a.byteOffset, 32);
  const signedB = new Int8Array(b.buffer, b.byteOffset, 32);
  let aFirst = true;
  for (let i = 31; i >= 0; i--) {
    if (signedA[i] !== signedB[i]) {
      aFirst = (signedA[i] as number) < (signedB[i] as number);
      break;
    }
  }
  return aFirst ? sha256(a, b) : sha256(b, a);
}

/** QLDB's list root, written recursively: the root of the pairs, then of the pairs' roots. */
export function refListRoot(hashes: Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return new Uint8Array(0);
  if (hashes.length === 1) return hashes[0] as Uint8Array;
  const pairs: Uint8Array[] = [];
  for (let i = 0; i < hashes.length; i += 2) {
    const right = hashes[i + 1];
    pairs.push(right === undefined ? (hashes[i] as Uint8Array) : refDot(hashes[i]!, right));
  }
  return refListRoot(pairs);
}

/** Returns the siblings of element `index` up to the list root. Unpaired levels add none. */
export function refListPath(hashes: Uint8Array[], index: number): Uint8Array[] {
  if (hashes.length <= 1) return [];
  const pairs: Uint8Array[] = [];
  for (let i = 0; i < hashes.length; i += 2) {
    const right = hashes[i + 1];
    pairs.push(right === undefined ? (hashes[i] as Uint8Array) : refDot(hashes[i]!, right));
  }
  const sibling = hashes[index % 2 === 0 ? index + 1 : index - 1];
  const own = sibling === undefined ? [] : [sibling];
  return [...own, ...refListPath(pairs, Math.floor(index / 2))];
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) of RFC 9162 §2.1.1 with leaf = the hash itself and node = dot. */
export function refTreeHash(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 1) return leaves[0] as Uint8Array;
  const k = largestPowerOfTwoBelow(leaves.length);
  return refDot(refTreeHash(leaves.slice(0, k)), refTreeHash(leaves.slice(k)));
}

/** PATH(m, D[n]) of RFC 9162 §2.1.3.1, from the leaf upward. */
export function refAuditPath(m: number, leaves: Uint8Array[]): Uint8Array[] {
  if (leaves.length === 1) return [];
  const k = largestPowerOfTwoBelow(leaves.length);
  if (m < k) return [...refAuditPath(m, leaves.slice(0, k)), refTreeHash(leaves.slice(k))];
  return [...refAuditPath(m - k, leaves.slice(k)), refTreeHash(leaves.slice(0, k))];
}

/** PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1. */
export function refConsistencyProof(m: number, leaves: Uint8Array[]): Uint8Array[] {
  return subproof(m, leaves, true);
}

function subproof(m: number, leaves: Uint8Array[], complete: boolean): Uint8Array[] {
  const n = leaves.length;
  if (m === n) return complete ? [] : [refTreeHash(leaves)];
  const k = largestPowerOfTwoBelow(n);
  if (m <= k) return [...subproof(m, leaves.slice(0, k), complete), refTreeHash(leaves.slice(k))];
  return [...subproof(m - k, leaves.slice(k), false), refTreeHash(leaves.slice(0, k))];
}

/** Ion Hash (SHA-256) of a dom value, computed by reading its Ion text with a hash reader. */
export function refIonHash(value: dom.Value): Uint8Array {
  const reader = makeHashReader(makeReader(dumpText(value)), cryptoHasherProvider('sha256'));
  reader.next();
  reader.next();
  return new Uint8Array(reader.digest());
}

// ---------------------------------------------------------------------------------------------
// Ion construction

export function ion(value: unknown): dom.Value {
  return dom.Value.from(value);
}

/** Copy of a struct with field `name` set to `value`, or removed when `value` is undefined. */
export function withField(
  struct: dom.Value,
  name: string,
  value: dom.Value | undefined,
): dom.Value {
  const fields: [string, dom.Value[]][] = struct
    .allFields()
    .filter(([fieldName]) => fieldName !== name);
  if (value !== undefined) fields.push([name, [value]]);
  return new dom.Struct(fields, struct.getAnnotations());
}

/** Copy of a struct whose field at `path` (e.g. ["data", "Make"]) is set to `value`. */
export function withPath(
  struct: dom.Value,
  path: string[],
  value: dom.Value | undefined,
): dom.Value {
  const [head, ...rest] = path as [string, ...string[]];
  if (rest.length === 0) return withField(struct, head, value);
  return withField(struct, head, withPath(struct.get(head) as dom.Value, rest, value));
}

export function withListElement(list: dom.Value, index: number, value: dom.Value): dom.Value {
  return new dom.List(
    list.elements().map((element, i) => (i === index ? value : element)),
    list.getAnnotations(),
  );
}

export function blob(bytes: Uint8Array): dom.Value {
  return new dom.Blob(bytes);
}

export function proofText(hashes: Uint8Array[]): string {
  return dumpText(new dom.List(hashes.map((hash) => new dom.Blob(hash))));
}

export function addressText(address: Address): string {
  return `{strandId: ${JSON.stringify(address.strandId)}, sequenceNo: ${address.sequenceNo}}`;
}

/** Round-trips a value through Ion text, as a client would receive it. */
export function reload(value: dom.Value): dom.Value {
  return load(dumpText(value)) as dom.Value;
}

// ---------------------------------------------------------------------------------------------
// Journal builders

export interface RevisionSpec {
  id: string;
  version: number;
  /** Absent for a deletion revision. */
  data?: Record<string, unknown>;
  /** Store dataHash in place of data, as after a redaction. */
  redacted?: boolean;
}

export interface BuiltRevision {
  value: dom.Value;
  hash: Uint8Array;
  spec: RevisionSpec;
}

const TX_TIME = Timestamp.parse('2024-03-05T10:15:30.123Z') as Timestamp;

export function buildRevision(address: Address, spec: RevisionSpec, txId = 'tx-1'): BuiltRevision {
  const metadata = ion({ id: spec.id, version: spec.version, txTime: TX_TIME, txId });
  const metadataHash = refIonHash(metadata);
  const fields: [string, dom.Value][] = [
    ['blockAddress', ion(address)],
    ['metadata', metadata],
  ];
  let hash = metadataHash;
  if (spec.data !== undefined) {
    const data = ion(spec.data);
    const dataHash = refIonHash(data);
    hash = refDot(metadataHash, dataHash);
    fields.push(spec.redacted === true ? ['dataHash', blob(dataHash)] : ['data', data]);
  }
  fields.push(['hash', blob(hash)]);
  return { value: new dom.Struct(fields), hash, spec };
}

export interface BlockSpec {
  address: Address;
  previousBlockHash: Uint8Array;
  revisions: RevisionSpec[];
  statements?: string[];
}

export interface BuiltBlock {
  value: dom.Value;
  address: Address;
  blockHash: Uint8Array;
  previousBlockHash: Uint8Array;
  revisions: BuiltRevision[];
  entriesHashList: Uint8Array[];
}

export function buildBlock(spec: BlockSpec): BuiltBlock {
  const txId = `tx-${spec.address.sequenceNo}`;
  const revisions = spec.revisions.map((revision) => buildRevision(spec.address, revision, txId));
  const statements = spec.statements ?? ['INSERT INTO Vehicle ?'];
  const documents: Record<string, unknown> = {};
  for (const revision of spec.revisions) {
    documents[revision.id] = { tableName: 'Vehicle', tableId: 'Tbl0001', statements: [0] };
  }
  const transactionInfo = ion({
    statements: statements.map((statement, index) => ({
      statement,
      startTime: Timestamp.parse(`2024-03-05T10:15:${10 + (index % 40)}.000Z`),
      statementDigest: sha256(Buffer.from(statement)),
    })),
    documents,
  });
  const entriesHashList = [refIonHash(transactionInfo)];
  if (revisions.length > 0) entriesHashList.push(refListRoot(revisions.map((r) => r.hash)));
  const entriesHash = refListRoot(entriesHashList);
  const blockHash = refDot(entriesHash, spec.previousBlockHash);

  const fields: [string, dom.Value][] = [
    ['blockAddress', ion(spec.address)],
    ['transactionId', ion(txId)],
    ['blockTimestamp', ion(TX_TIME)],
    ['blockHash', blob(blockHash)],
    ['entriesHash', blob(entriesHash)],
    ['previousBlockHash', blob(spec.previousBlockHash)],
    ['entriesHashList', new dom.List(entriesHashList.map(blob))],
    ['transactionInfo', transactionInfo],
  ];
  if (revisions.length > 0) {
    fields.push(['revisions', new dom.List(revisions.map((revision) => revision.value))]);
  }
  return {
    value: new dom.Struct(fields),
    address: spec.address,
    blockHash,
    previousBlockHash: spec.previousBlockHash,
    revisions,
    entriesHashList,
  };
}

/** Vehicle-like document content with a random blob, so revisions differ. */
export function randomData(random: Random, tag: number): Record<string, unknown> {
  return {
    VIN: `VIN${tag}-${random.int(1_000_000)}`,
    Make: ['Tesla', 'Ford', 'Volvo'][random.int(3)],
    Year: 2000 + random.int(25),
    Photo: random.bytes(16),
    Owners: [{ Name: 'Alice' }, { Name: 'Bob' }].slice(0, 1 + random.int(2)),
  };
}

/** Builds a valid chain of `count` blocks, each with 0 to 4 revisions, block 0 first. */
export function buildChain(count: number, random: Random, strandId = STRAND): BuiltBlock[] {
  const blocks: BuiltBlock[] = [];
  let previousBlockHash: Uint8Array = new Uint8Array(0);
  for (let sequenceNo = 0; sequenceNo < count; sequenceNo++) {
    const revisions: RevisionSpec[] = [];
    const revisionCount = random.int(5);
    for (let i = 0; i < revisionCount; i++) {
      const kind = random.int(6);
      revisions.push({
        id: `doc-${sequenceNo}-${i}`,
        version: random.int(4),
        ...(kind === 0 ? {} : { data: randomData(random, sequenceNo * 10 + i) }),
        redacted: kind === 1,
      });
    }
    const block = buildBlock({ address: { strandId, sequenceNo }, previousBlockHash, revisions });
    blocks.push(block);
    previousBlockHash = block.blockHash;
  }
  return blocks;
}

/** Proof of revision `index` of `block`, given the block's audit path in the digest's tree. */
export function revisionProof(
  block: BuiltBlock,
  index: number,
  auditPath: Uint8Array[],
): Uint8Array[] {
  const revisionHashes = block.revisions.map((revision) => revision.hash);
  return [
    ...refListPath(revisionHashes, index),
    ...refListPath(block.entriesHashList, 1),
    ...(block.previousBlockHash.length > 0 ? [block.previousBlockHash] : []),
    ...auditPath,
  ];
}

// ---------------------------------------------------------------------------------------------
// Assertions

/**
 * Asserts that `action` throws a VerificationError with `code` whose message contains every
 * string in `mentions`.
 */
export function assertFails(
  action: () => unknown,
  code: VerificationErrorCode,
  ...mentions: string[]
): VerificationError {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof VerificationError,
    `expected a VerificationError, got ${String(caught)}`,
  );
  assert.equal(caught.code, code, caught.message);
  for (const mention of mentions) {
    assert.ok(caught.message.includes(mention), `message "${caught.message}" lacks "${mention}"`);
  }
  return caught;
}

export async function assertFailsAsync(
  action: () => Promise<unknown>,
  code: VerificationErrorCode,
  ...mentions: string[]
): Promise<VerificationError> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof VerificationError,
    `expected a VerificationError, got ${String(caught)}`,
  );
  assert.equal(caught.code, code, caught.message);
  for (const mention of mentions) {
    assert.ok(caught.message.includes(mention), `message "${caught.message}" lacks "${mention}"`);
  }
  return caught;
}

/** Formats a block address the way verifier messages name a block. */
export function blockName(address: Address): string {
  return `block {strandId: ${JSON.stringify(address.strandId)}, sequenceNo: ${address.sequenceNo}}`;
}
