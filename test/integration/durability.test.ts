import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../src/engine/index.js';
import { verifyChain } from '../../src/verifier/index.js';
import { tempDir } from '../helpers/backends.js';

const ROUNDS = Number(process.env.VELLUM_DURABILITY_ROUNDS ?? 10);
const writerScript = fileURLToPath(new URL('../fixtures/durable-writer.ts', import.meta.url));

/** Start the writer, let it commit for a random while, then SIGKILL it; returns the acknowledged ids. */
async function writeThenKill(dataDir: string): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', writerScript, dataDir, '16'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const acknowledged: string[] = [];
  let buffered = '';
  let ready = false;
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );

  // Wait for the writer's first acknowledged commit, so that on a loaded
  // machine the kill still lands while commits are flowing.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('writer acknowledged no commit within 30 s')),
      30_000,
    );
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === 'ready') ready = true;
        else if (line.startsWith('ack ')) acknowledged.push(line.slice(4));
      }
      if (ready && acknowledged.length > 0) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => reject(new Error('writer exited before it committed')));
  });

  await new Promise((resolve) => setTimeout(resolve, randomInt(50, 700)));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  // Lines already in the pipe when the process died were acknowledged too.
  for (const line of buffered.split('\n'))
    if (line.startsWith('ack ')) acknowledged.push(line.slice(4));
  return acknowledged;
}

test('acknowledged commits survive SIGKILL', { timeout: 10 * 60_000 }, async () => {
  const dir = tempDir('vellum-durability-');
  const everAcknowledged: string[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const acknowledged = await writeThenKill(dir.path);
      everAcknowledged.push(...acknowledged);

      const engine = await Engine.open({ dataDir: dir.path });
      try {
        const ledger = await engine.ledger('durable');
        const present = new Set<string>();
        await ledger.run(async (t) => {
          for (const revision of await t.scan('Event')) present.add(revision.id);
        });
        const lost = everAcknowledged.filter((id) => !present.has(id));
        assert.deepEqual(lost, [], `round ${round}: ${lost.length} acknowledged commits lost`);

        const digest = await ledger.digest();
        const blocks = await ledger.blocks(0, digest.tipAddress.sequenceNo + 1);
        const summary = verifyChain(blocks);
        assert.equal(summary.blocks, digest.tipAddress.sequenceNo + 1);
        assert.deepEqual(
          Buffer.from(summary.digest),
          Buffer.from(digest.digest),
          `round ${round}: digest differs`,
        );
      } finally {
        await engine.close();
      }
    }
    assert.ok(
      everAcknowledged.length > ROUNDS,
      `only ${everAcknowledged.length} commits in ${ROUNDS} rounds`,
    );
  } finally {
    dir.remove();
  }
});
