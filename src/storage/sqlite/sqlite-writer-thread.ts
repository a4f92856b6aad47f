// The journal writer thread of a SQLite store. Appending blocks (SQLite work
// and fsync) runs here on its own connection, so the main thread prepares the
// next batch of blocks meanwhile.
import { parentPort, workerData } from 'node:worker_threads';
import type { BlockWrite } from '../store.js';
import { SequenceConflictError } from '../store.js';
import { appendBlocks, runAppend } from './sqlite-append.js';
import { decodeBlockWrites } from './block-write-codec.js';
import { openConnection } from './sqlite-connection.js';

export interface AppendRequest {
  id: number;
  ledger: number;
  /** `BlockWrite[]` encoded by `encodeBlockWrites`. */
  blocks: Uint8Array;
}

export type AppendResponse =
  | { id: number; ok: true }
  | { id: number; ok: false; message: string; conflict?: { expected: number; received: number } };

const db = openConnection((workerData as { path: string }).path);
const append = db.transaction((ledger: number, blocks: BlockWrite[]) =>
  appendBlocks(db, ledger, blocks),
);

parentPort!.on('message', (request: AppendRequest | 'close') => {
  if (request === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  let response: AppendResponse;
  try {
    // Immediate: take the write lock at the start, since a read snapshot
    // cannot be upgraded once the main connection wrote (a rekey does).
    runAppend(db, append, request.ledger, decodeBlockWrites(request.blocks));
    response = { id: request.id, ok: true };
  } catch (error) {
    response =
      error instanceof SequenceConflictError
        ? {
            id: request.id,
            ok: false,
            message: error.message,
            conflict: { expected: error.expected, received: error.received },
          }
        : {
            id: request.id,
            ok: false,
            message: error instanceof Error ? error.message : String(error),
          };
  }
  parentPort!.postMessage(response);
});
