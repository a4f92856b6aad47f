import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dom, load } from 'ion-js';
import { Engine } from '../../../src/engine/index.js';
import type { BlockWrite, Store } from '../../../src/storage/store.js';
import { backends, tempDir } from '../../helpers/backends.js';

const ion = (text: string): dom.Value => load(text)!;

/**
 * Wrap a store so that `appendBlocks` runs `intercept` in place of the real
 * call; every other method goes to the store unchanged.
 */
function interceptAppends(
  real: Store,
  intercept: (append: () => Promise<void>) => Promise<void>,
): Store {
  return new Proxy(real, {
    get(target, prop) {
      if (prop === 'appendBlocks') {
        return (id: string, blocks: BlockWrite[]) =>
          intercept(() => target.appendBlocks(id, blocks));
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

for (const backend of backends) {
  describe(`storage failures: ${backend.name}`, { skip: backend.skip }, () => {
    test('failed batch does not block readers', async () => {
      const dir = tempDir();
      const { store: real, dispose } = await backend.create();
      let arm = false;
      const store = interceptAppends(real, async (append) => {
        if (!arm) return append();
        arm = false;
        await new Promise((resolve) => setTimeout(resolve, 30));
        throw new Error('disk full (injected)');
      });
      const engine = await Engine.open({ dataDir: dir.path, store });
      try {
        await engine.createLedger('r');
        const ledger = await engine.ledger('r');
        await ledger.run(async (t) => void t.createTable('T'));
        const id = await ledger.run((t) => t.insert('T', ion('{i: 0}')));
        arm = true;
        await assert.rejects(
          ledger.run((t) => t.update('T', id, ion('{i: 1}'))),
          /StorageUnavailable|disk full|unavailable/i,
        );
        // Nothing was written; a read-only transaction should commit.
        const doc = await ledger.run((t) => t.get('T', id));
        assert.equal(doc?.data?.get('i')?.numberValue(), 0);
      } finally {
        await engine.close();
        await dispose();
        dir.remove();
      }
    });

    test('write reported failed but durable recovers', async () => {
      const dir = tempDir();
      const { store: real, dispose } = await backend.create();
      let lieOnce = false;
      const store = interceptAppends(real, async (append) => {
        await append();
        if (!lieOnce) return;
        lieOnce = false;
        throw new Error('connection lost after commit (injected)');
      });
      const engine = await Engine.open({ dataDir: dir.path, store });
      try {
        await engine.createLedger('r');
        const ledger = await engine.ledger('r');
        await ledger.run(async (t) => void t.createTable('T'));

        lieOnce = true;
        const ambiguous = ledger.begin();
        const ambiguousId = await ambiguous.insert('T', ion('{i: 1}'));
        await assert.rejects(ambiguous.commit(), /connection lost after commit/);

        // The next commits reload the journal's end instead of failing forever.
        let committed: string | undefined;
        for (let attempt = 0; attempt < 5 && committed === undefined; attempt++) {
          try {
            committed = await ledger.run((t) => t.insert('T', ion('{i: 2}')));
          } catch (error) {
            assert.match(String(error), /sequence conflict|CapacityExceeded|Storage write failed/);
          }
        }
        assert.ok(committed !== undefined, 'no commit succeeded after the ambiguous failure');

        const ids = (await ledger.run((t) => t.scan('T'))).map((revision) => revision.id).sort();
        assert.deepEqual(ids, [ambiguousId, committed].sort(), 'the durable write is visible');
        const { digest, tipAddress } = await ledger.digest();
        assert.deepEqual(
          Buffer.from(await ledger.digestAt(tipAddress.sequenceNo)),
          Buffer.from(digest),
        );
      } finally {
        await engine.close();
        await dispose();
        dir.remove();
      }
    });
  });
}
