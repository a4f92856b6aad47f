import { dom } from 'ion-js';
import { ionHash } from '../ion/index.js';
import type { RevisionMetadata, TransactionInfo } from './journal-types.js';
import { metadataToIon, transactionInfoToIon } from './journal-ion.js';

/** Ion Hash of a revision's metadata struct `{id, version, txTime, txId}`. */
export function hashMetadata(metadata: RevisionMetadata): Uint8Array {
  return ionHash(metadataToIon(metadata));
}

/** Ion Hash of a block's `transactionInfo` struct. */
export function hashTransactionInfo(info: TransactionInfo): Uint8Array {
  return ionHash(transactionInfoToIon(info));
}

export function hashDocument(data: dom.Value): Uint8Array {
  return ionHash(data);
}
