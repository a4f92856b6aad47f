import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Engine, StoreClosedError } from '../../../src/engine/index.js';
import { LOCK_FILE } from '../../../src/engine/data-dir-lock.js';
import { tempDir } from '../../helpers/backends.js';

test('second engine on one directory fails', async () => {
  const dir = tempDir();
  const first = await Engine.open({ dataDir: dir.path });
  try {
    // The same directory under other spellings: relative, and through a link.
    const link = `${dir.path}-link`;
    symlinkSync(dir.path, link);
    try {
      for (const spelling of [dir.path, relative(process.cwd(), dir.path), link]) {
        await assert.rejects(
          Engine.open({ dataDir: spelling }),
          /already open in this process; close its Engine first/,
          spelling,
        );
      }
    } finally {
      rmSync(link);
    }
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

test('Engine.open names a bad option before it makes anything', async () => {
  const open = Engine.open as (options: unknown) => Promise<Engine>;
  await assert.rejects(open(undefined), /Engine.open takes an options object/);
  await assert.rejects(
    open({ datadir: './x' }),
    /Engine.open has no option datadir; its options are dataDir, store/,
  );
  await assert.rejects(open({ dataDir: 42 }), /needs dataDir, .* got 42/);
  await assert.rejects(open({ dataDir: '' }), /needs dataDir, .* got ""/);
  await assert.rejects(open({ dataDir: '  ' }), /needs dataDir, .* got " {2}"/);
  await assert.rejects(
    open({ dataDir: './x', transactionTimeout: 5 }),
    /Engine.open has no option transactionTimeout; its options are dataDir, store/,
  );
  await assert.rejects(
    open({ dataDir: './x', transactionTimeoutMs: NaN }),
    /transactionTimeoutMs must be a positive number of milliseconds, got NaN/,
  );
  const dir = tempDir();
  try {
    await assert.rejects(
      open({ dataDir: dir.path, transactionTimeoutMs: 'fast' }),
      /transactionTimeoutMs must be a positive number of milliseconds, got "fast"/,
    );
    const engine = await Engine.open({ dataDir: dir.path });
    try {
      await assert.rejects(
        engine.createLedger('l2', { permissionsMode: 'NOPE' as 'STANDARD' }),
        /permissionsMode must be ALLOW_ALL or STANDARD, got "NOPE"/,
      );
      const create = engine.createLedger.bind(engine) as (
        name: string,
        settings: unknown,
      ) => Promise<unknown>;
      await assert.rejects(
        create('l3', { permissionMode: 'STANDARD' }),
        /createLedger has no setting permissionMode; its settings are permissionsMode, deletionProtection, tags/,
      );
      await assert.rejects(create('l4', 'ALLOW_ALL'), /createLedger takes settings as an object/);
      assert.deepEqual(await engine.listLedgers(), []);
    } finally {
      await engine.close();
    }
  } finally {
    dir.remove();
  }
});

test('work after close fails with StoreClosedError, not a storage failure to retry', async () => {
  const dir = tempDir();
  try {
    const engine = await Engine.open({ dataDir: dir.path });
    await engine.createLedger('closing');
    const ledger = await engine.ledger('closing');
    await ledger.run(async (tx) => {
      tx.createTable('T');
    });
    const running = Array.from({ length: 5 }, (_, i) =>
      ledger
        .run((tx) => tx.insert('T', { i }))
        .then(
          () => undefined,
          (error: unknown) => error,
        ),
    );
    await engine.close();
    for (const outcome of await Promise.all(running)) {
      if (outcome !== undefined) assert.ok(outcome instanceof StoreClosedError, String(outcome));
    }
    await assert.rejects(
      ledger.run((tx) => tx.insert('T', { i: 9 })),
      StoreClosedError,
    );
    await assert.rejects(engine.ledger('closing'), StoreClosedError);
  } finally {
    dir.remove();
  }
});

test('close() waits for submitted commits and refuses new work', async () => {
  const dir = tempDir();
  try {
    const engine = await Engine.open({ dataDir: dir.path });
    await engine.createLedger('draining');
    const ledger = await engine.ledger('draining');
    await ledger.run(async (tx) => {
      tx.createTable('T');
    });
    const commits: Array<Promise<unknown>> = [];
    for (let i = 0; i < 20; i++) {
      const tx = ledger.begin();
      await tx.insert('T', { i });
      commits.push(tx.commit());
    }
    const open = ledger.begin();
    await open.insert('T', { i: 'late' });
    await engine.close();
    // Every commit submitted before close() landed.
    await Promise.all(commits);
    assert.throws(() => ledger.begin(), StoreClosedError);
    await assert.rejects(open.commit(), StoreClosedError);

    const reopened = await Engine.open({ dataDir: dir.path });
    try {
      const count = await (
        await reopened.ledger('draining')
      ).run(async (tx) => (await tx.scan('T')).length);
      assert.equal(count, 20);
    } finally {
      await reopened.close();
    }
  } finally {
    dir.remove();
  }
});

test('close() with commits in flight returns before the process exits', () => {
  const dir = tempDir();
  try {
    // Nothing but close() keeps this process alive once its commits end.
    const script = join(dir.path, 'close.mts');
    const engineUrl = new URL('../../../src/engine/index.ts', import.meta.url).href;
    writeFileSync(
      script,
      [
        `import { Engine } from ${JSON.stringify(engineUrl)};`,
        `const engine = await Engine.open({ dataDir: ${JSON.stringify(join(dir.path, 'data'))} });`,
        "await engine.createLedger('l');",
        "const ledger = await engine.ledger('l');",
        "await ledger.run(async (tx) => { tx.createTable('T'); });",
        "for (let i = 0; i < 200; i++) ledger.run((tx) => tx.insert('T', { i })).catch(() => {});",
        'await new Promise((resolve) => setTimeout(resolve, 5));',
        'await engine.close();',
        "console.log('closed');",
      ].join('\n'),
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'closed');
  } finally {
    dir.remove();
  }
});

test('lock copied with its directory is taken over', async () => {
  const dir = tempDir();
  try {
    // A live process locked another directory, and the lock came along in a copy.
    writeFileSync(join(dir.path, LOCK_FILE), `${process.ppid}\n/some/other/data-dir\n`);
    const engine = await Engine.open({ dataDir: dir.path });
    await engine.close();
    // The same lock naming this very directory still refuses.
    writeFileSync(join(dir.path, LOCK_FILE), `${process.ppid}\n${realpathSync(dir.path)}\n`);
    await assert.rejects(
      Engine.open({ dataDir: dir.path }),
      new RegExp(`in use by process ${process.ppid}`),
    );
  } finally {
    dir.remove();
  }
});

test('data directory errors name the directory and the fix', async () => {
  const dir = tempDir();
  try {
    const file = join(dir.path, 'a-file');
    writeFileSync(file, '');
    for (const dataDir of [file, join(file, 'below')]) {
      await assert.rejects(
        Engine.open({ dataDir }),
        new RegExp(`data directory ${dataDir} is a file, or lies under one; choose a directory`),
      );
    }
    // Root may write anywhere, so only an unprivileged user sees these.
    if (process.getuid?.() !== 0) {
      const locked = join(dir.path, 'read-only');
      mkdirSync(locked, { mode: 0o500 });
      await assert.rejects(
        Engine.open({ dataDir: join(locked, 'data') }),
        /cannot create data directory .*\(EACCES\): make sure its parent directory exists and is writable/,
      );
      await assert.rejects(Engine.open({ dataDir: locked }), /is not writable \(EACCES\)/);
    }
  } finally {
    dir.remove();
  }
});
