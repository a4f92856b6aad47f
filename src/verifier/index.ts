// Standalone verifier for Vellum's journal, digests and proofs. It imports nothing from the
// rest of Vellum, so a bug in the engine's hashing cannot hide a bug here. Hashing uses
// node:crypto and ion-hash-js, and Ion parsing uses ion-js.
export { parseDigestTipAddress } from './address.js';
export type { BlockProofOptions, VerifiedBlock } from './block.js';
export { verifyBlock } from './block.js';
export type { ChainOptions, ChainSummary } from './chain.js';
export { verifyChain, verifyChainAsync } from './chain.js';
export { dot, foldProof, listRoot } from './dot.js';
export type { BlockAddress, VerificationErrorCode, VerificationErrorDetails } from './errors.js';
export { VerificationError } from './errors.js';
export type { IonInput } from './ion.js';
export { treeHash, verifyConsistency, verifyInclusion } from './merkle.js';
export { parseProof } from './proof.js';
export type { RevisionProofOptions, VerifiedRevision } from './revision.js';
export { revisionHash, verifyRevision } from './revision.js';
