import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { load } from 'ion-js';
import { Engine } from '../../src/engine/index.js';
import { sealedGeneration } from '../../src/engine/keyring/ledger-cipher.js';
import { verifyLedger } from '../../src/cli/verify-ledger.js';
import { tempDir } from '../helpers/backends.js';

const writerScript = fileURLToPath(new URL('../fixtures/rekey-writer.ts', import.meta.url));

/**
 * Run the writer until its rekey has sealed `blocks` blocks and at least one
 * insert was acknowledged, then SIGKILL it. Returns the acknowledged ids.
 */
async function killMidRekey(dataDir: string, blocks: number): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', writerScript, dataDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  const acknowledged: string[] = [];
  let sealed = 0;
  let buffered = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('the rekey did not advance within 60 s')),
      60_000,
    );
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('ack ')) acknowledged.push(line.slice(4));
        else if (line.startsWith('sealed ')) sealed = Number(line.slice(7));
      }
      // On a loaded machine the rekey may pass `blocks` before the first commit.
      if (sealed >= blocks && acknowledged.length > 0) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => reject(new Error('the writer exited before it was killed')));
  });
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  for (const line of buffered.split('\n')) {
    if (line.startsWith('ack ')) acknowledged.push(line.slice(4));
  }
  return acknowledged;
}

test('rekey killed by SIGKILL resumes', { timeout: 120_000 }, async () => {
  const dir = tempDir('vellum-rekey-kill-');
  try {
    const acknowledged = await killMidRekey(dir.path, 5);
    assert.ok(acknowledged.length > 0, 'the writer acknowledged no insert during the rekey');

    const engine = await Engine.open({ dataDir: dir.path });
    try {
      const interrupted = await engine.rekeyStatus('vault');
      assert.equal(interrupted.retiringGeneration, 0, 'the old key is kept until the rekey ends');

      const ledger = await engine.ledger('vault');
      const done = await engine.waitForRekey('vault');
      assert.equal(done.rekey?.state, 'DONE', done.rekey?.error);
      assert.equal(done.retiringGeneration, undefined);

      const present = new Set<string>();
      await ledger.run(async (t) => {
        for (const revision of await t.scan('Item')) present.add(revision.id);
      });
      const lost = acknowledged.filter((id) => !present.has(id));
      assert.deepEqual(lost, [], `${lost.length} acknowledged inserts lost`);
      assert.ok(present.size >= 400 + acknowledged.length);

      // Index lookups under the new key find every document exactly once.
      let found = 0;
      await ledger.run(async (t) => {
        for (let k = 0; k < 5; k++) found += (await t.lookup('Item', 'k', load(String(k))!)).length;
      });
      assert.equal(found, present.size);

      const { id } = await engine.ledgerKeyRecord('vault');
      const last = (await engine.store.lastBlock(id))!.seq;
      for (const block of await engine.store.getBlocks(id, 0, last + 1)) {
        assert.equal(sealedGeneration(block.body), 1, `block ${block.seq}`);
      }
      for (const revision of await engine.store.getRevisionsInBlocks(id, 0, last + 1)) {
        assert.equal(
          sealedGeneration(revision.payload),
          1,
          `revision in block ${revision.blockSeq}`,
        );
      }
      assert.deepEqual(await engine.store.listIndexEntries(id, 0, '', 10), []);
      await verifyLedger(ledger);
    } finally {
      await engine.close();
    }
  } finally {
    dir.remove();
  }
});
