import {
  accessSync,
  constants,
  copyFileSync,
  existsSync,
  mkdtempSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATABASE_FILE, Engine } from '../engine/engine.js';
import { DataDirInUseError } from '../engine/data-dir-lock.js';
import { loadOrCreateRootKey } from '../engine/keyring/root-key-file.js';
import { openStore, withoutPassword } from '../storage/open-store.js';
import type { Store } from '../storage/store.js';
import { offlineKeyProvider, type OfflineKeyProvider } from '../services/qldb/offline-keys.js';
import { verifyLedger } from './verify-ledger.js';

/** Exit codes of `vellum verify`. */
export const VERIFY_OK = 0;
export const VERIFY_FAILED = 1;
export const VERIFY_UNUSABLE = 2;

/**
 * `vellum verify`: check one ledger, or every ledger of the data directory.
 * Returns 0 when all verify, 1 when a journal fails verification, and 2 when
 * something could not be checked (no database, no root key, an unknown
 * ledger, or a ledger whose data key cannot be unwrapped) and none failed.
 */
export async function runVerify(options: {
  ledger?: string;
  dataDir: string;
  /** A `postgres://` URL of a shared store; the data directory then only supplies `root.key`. */
  store?: string;
}): Promise<number> {
  const fail = (message: string, code: number) => {
    process.stderr.write(`vellum verify: ${message}\n`);
    return code;
  };
  const storeUrl = options.store ?? process.env.VELLUM_STORE;
  const where = storeUrl === undefined ? options.dataDir : withoutPassword(storeUrl);
  if (storeUrl === undefined && !existsSync(join(options.dataDir, DATABASE_FILE))) {
    return fail(
      `no Vellum database in ${options.dataDir}; pass --data-dir with the directory that holds ` +
        `${DATABASE_FILE}, or --store with the postgres:// URL of a shared store`,
      VERIFY_UNUSABLE,
    );
  }

  // SQLite needs to write its lock and WAL index beside the database, so the
  // database of a read-only directory is verified from a private copy.
  let copy: string | undefined;
  if (storeUrl === undefined && !writable(options.dataDir)) {
    try {
      copy = copyDatabase(options.dataDir);
    } catch (error) {
      return fail(messageOf(error), VERIFY_UNUSABLE);
    }
    process.stderr.write(
      `vellum verify: ${options.dataDir} is read-only; verifying a copy of its database in ${copy}\n`,
    );
  }
  try {
    return await verifyEngine(options, storeUrl, where, copy ?? options.dataDir, fail);
  } finally {
    if (copy !== undefined) rmSync(copy, { recursive: true, force: true });
  }
}

/** Open the engine on `dataDir`, with the root key of `options.dataDir`, and verify its ledgers. */
async function verifyEngine(
  options: { ledger?: string; dataDir: string },
  storeUrl: string | undefined,
  where: string,
  dataDir: string,
  fail: (message: string, code: number) => number,
): Promise<number> {
  // Data keys under a KMS key, the Vellum-owned one included, open through the
  // data directory's KMS, which needs the engine's store.
  let engine: Engine | undefined;
  let store: Store | undefined;
  let keyProvider: OfflineKeyProvider;
  try {
    keyProvider = offlineKeyProvider(loadOrCreateRootKey(options.dataDir, false), () => {
      if (engine === undefined) throw new Error('the store is not open yet');
      return engine.store;
    });
    // A shared store is read while its servers run; only a SQLite store locks the directory.
    store = storeUrl === undefined ? undefined : await openStore(storeUrl);
    engine = await Engine.open({
      dataDir,
      keyProvider,
      createRootKey: false,
      store,
    });
  } catch (error) {
    if (engine === undefined) await store?.close();
    // A running vellum serve keeps its directory locked, but a copy can be checked.
    const fix =
      error instanceof DataDirInUseError
        ? `. Stop process ${error.owner} first, or verify a copy taken while it runs ` +
          `(sqlite3 ${join(options.dataDir, DATABASE_FILE)} ".backup COPY/${DATABASE_FILE}", ` +
          'and root.key beside it; see Backups in the README)'
        : '';
    return fail(`${messageOf(error)}${fix}`, VERIFY_UNUSABLE);
  }
  try {
    const names = (await engine.listLedgers()).map((ledger) => ledger.name);
    if (options.ledger !== undefined && !names.includes(options.ledger)) {
      const known =
        names.length === 0 ? 'it has no ledgers' : `its ledgers are: ${names.join(', ')}`;
      return fail(`ledger ${options.ledger} does not exist in ${where}; ${known}`, VERIFY_UNUSABLE);
    }

    let status = VERIFY_OK;
    for (const name of options.ledger === undefined ? names : [options.ledger]) {
      let ledger;
      try {
        ledger = await engine.ledger(name);
      } catch (error) {
        // With its KMS key disabled or deleted, the journal cannot be read,
        // so its integrity is unknown rather than broken.
        const message = messageOf(error);
        // The root key's message names its fix; a KMS key's state needs one.
        const fix = /root key file does not match/.test(message)
          ? ''
          : '; enable its KMS key (or cancel the key deletion)';
        process.stderr.write(
          `vellum verify: ledger ${name} could not be checked: ${message}${fix}, and run vellum verify again\n`,
        );
        if (status === VERIFY_OK) status = VERIFY_UNUSABLE;
        continue;
      }
      try {
        const started = performance.now();
        const result = await verifyLedger(ledger);
        const seconds = (performance.now() - started) / 1000;
        process.stdout.write(
          `ledger ${name}: ${result.blocks} blocks and ${result.treeNodes} block-tree nodes verified in ${seconds.toFixed(2)} s\n` +
            `  digest ${Buffer.from(result.digest).toString('base64')} at sequenceNo ${result.tipAddress.sequenceNo}\n`,
        );
      } catch (error) {
        process.stderr.write(`vellum verify: ledger ${name} FAILED: ${messageOf(error)}\n`);
        status = VERIFY_FAILED;
      }
    }
    if (names.length === 0) process.stdout.write(`no ledgers in ${where}\n`);
    return status;
  } finally {
    keyProvider.close();
    await engine.close();
  }
}

/** Return true when the directory and its database may be written. */
function writable(dataDir: string): boolean {
  try {
    accessSync(dataDir, constants.W_OK);
    accessSync(join(dataDir, DATABASE_FILE), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Copy the database of `dataDir`, with its write-ahead log when there is one,
 * into a new private directory under the system's temporary directory, and
 * return that directory. Fails when either file changed during the copy.
 */
function copyDatabase(dataDir: string): string {
  const files = [DATABASE_FILE, `${DATABASE_FILE}-wal`].filter((file) =>
    existsSync(join(dataDir, file)),
  );
  const stamp = () =>
    files.map((file) => {
      const stats = statSync(join(dataDir, file));
      return `${file}:${stats.size}:${stats.mtimeMs}`;
    });
  const copy = mkdtempSync(join(tmpdir(), 'vellum-verify-'));
  try {
    const before = stamp().join();
    for (const file of files) copyFileSync(join(dataDir, file), join(copy, file));
    if (stamp().join() !== before) {
      throw new Error(
        `the database in ${dataDir} changed while it was copied: a process is writing it. ` +
          "Stop that server, or verify a backup taken with SQLite's .backup",
      );
    }
  } catch (error) {
    rmSync(copy, { recursive: true, force: true });
    throw error;
  }
  return copy;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
