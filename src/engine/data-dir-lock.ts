import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'vellum.lock';

/** The error for a data directory that another running process has open. */
export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly owner: number,
  ) {
    super(
      `data directory ${dataDir} is in use by process ${owner}; only one Vellum process may open it at a time`,
    );
    this.name = 'DataDirInUseError';
  }
}

/** Data directories locked by this process, since a lock file cannot tell two engines of one process apart. */
const lockedHere = new Set<string>();

/**
 * Create the data directory when missing, private to its owner, turning
 * the file system's error codes into a message that names the directory
 * and the fix.
 */
export function makeDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const isFile = code === 'EEXIST' || code === 'ENOTDIR';
    throw new Error(
      isFile
        ? `data directory ${dataDir} is a file, or lies under one; choose a directory path`
        : `cannot create data directory ${dataDir} (${code ?? String(error)}): make sure ` +
            'its parent directory exists and is writable, or choose another path',
      { cause: error },
    );
  }
}

/**
 * Take the data directory for this process: one committer per ledger is
 * what keeps block sequence numbers gapless, so two processes must never
 * write one SQLite store. The lock file holds the owner's pid and the
 * directory's real path. A lock left by a process that no longer runs (one
 * killed with SIGKILL, say) is taken over, and so is one copied along with
 * the directory, such as in a backup taken while its server ran.
 *
 * NOTE: two processes that find the same stale lock at the same moment can
 * both take it. The store's sequence check still keeps the journal intact.
 */
export function lockDataDir(dataDir: string): () => void {
  // One directory under any spelling: relative, absolute or through a link.
  const directory = realpathSync(dataDir);
  const path = join(directory, LOCK_FILE);
  if (lockedHere.has(path)) {
    throw new Error(
      `data directory ${dataDir} is already open in this process; close its Engine first`,
    );
  }
  const { pid: owner, directory: locked } = readLock(path);
  const copied = locked !== undefined && locked !== directory;
  if (owner !== undefined && owner !== process.pid && !copied && isRunning(owner)) {
    throw new DataDirInUseError(dataDir, owner);
  }

  let fd: number;
  try {
    fd = openSync(path, 'w', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EROFS' && code !== 'EACCES' && code !== 'EPERM') throw error;
    throw new Error(
      `data directory ${dataDir} is not writable (${code}): Vellum writes ${LOCK_FILE} and ` +
        'its database there, so use a writable directory or a writable copy of it',
      { cause: error },
    );
  }
  try {
    writeSync(fd, `${process.pid}\n${directory}\n`);
  } finally {
    closeSync(fd);
  }
  lockedHere.add(path);
  return () => {
    lockedHere.delete(path);
    if (readLock(path).pid === process.pid) rmSync(path, { force: true });
  };
}

/** Read a lock file: the owner's pid, and the directory it locked (absent in older lock files). */
function readLock(path: string): { pid?: number; directory?: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  const [first = '', second] = text.split('\n');
  const pid = Number(first.trim());
  return {
    pid: Number.isInteger(pid) && pid > 0 ? pid : undefined,
    directory: second === undefined || second === '' ? undefined : second,
  };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
