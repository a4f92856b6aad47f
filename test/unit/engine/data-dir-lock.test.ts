import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../../src/engine/index.js';
import { LOCK_FILE } from '../../../src/engine/data-dir-lock.js';
import { tempDir } from '../../helpers/backends.js';

test('second engine on one directory fails', async () => {
  const dir = tempDir();
  const first = await Engine.open({ dataDir: dir.path });
  try {
    await assert.rejects(
      Engine.open({ dataDir: dir.path }),
      /already open in this process; close its Engine first/,
    );
  } finally {
    await first.close();
  }
  const again = await Engine.open({ dataDir: dir.path });
  await again.close();
  assert.equal(existsSync(join(dir.path, LOCK_FILE)), false, 'close removes the lock file');
  dir.remove();
});

test('directory locked by a live process fails', async () => {
  const dir = tempDir();
  try {
    // The parent of the test process is alive and is not this process.
    writeFileSync(join(dir.path, LOCK_FILE), String(process.ppid));
    await assert.rejects(
      Engine.open({ dataDir: dir.path }),
      new RegExp(`in use by process ${process.ppid}; only one Vellum process may open it`),
    );
  } finally {
    dir.remove();
  }
});

test('stale lock is taken over', async () => {
  const dir = tempDir();
  try {
    // Pid numbers stop far below this on Linux, so no process has it.
    writeFileSync(join(dir.path, LOCK_FILE), '2147483646');
    const engine = await Engine.open({ dataDir: dir.path });
    await engine.close();
  } finally {
    dir.remove();
  }
});
