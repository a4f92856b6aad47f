import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { dom, load } from 'ion-js';
import {
  Engine,
  OccConflictError,
  type Ledger,
  type LedgerKeyStatus,
} from '../../../src/engine/index.js';
import type { KeyProvider } from '../../../src/engine/keyring/key-provider.js';
import {
  LedgerCipher,
  PayloadIntegrityError,
  sealedGeneration,
} from '../../../src/engine/keyring/ledger-cipher.js';
import { RootKeyProvider } from '../../../src/engine/keyring/root-key-file.js';
import { blockContext, revisionContext } from '../../../src/engine/journal/block-builder.js';
import { catalogContext } from '../../../src/engine/ledger/catalog.js';
import { REKEY_NAMESPACE } from '../../../src/engine/ledger/rekey.js';
import type { Store } from '../../../src/storage/store.js';
import { verifyLedger } from '../../../src/cli/verify-ledger.js';
import { backends, engineFixture } from '../../helpers/backends.js';

const ion = (text: string): dom.Value => load(text)!;

/** A root key provider that remembers every data key it wrapped or unwrapped, as a test's window into the keys. */
class RecordingProvider implements KeyProvider {
  readonly #root = new RootKeyProvider(randomBytes(32));
  readonly seen: Uint8Array[] = [];

  async wrap(ledgerId: string, dataKey: Uint8Array): Promise<Uint8Array> {
    this.#remember(dataKey);
    return this.#root.wrap(ledgerId, dataKey);
  }

  async unwrap(ledgerId: string, wrapped: Uint8Array): Promise<Uint8Array> {
    const dataKey = await this.#root.unwrap(ledgerId, wrapped);
    this.#remember(dataKey);
    return dataKey;
  }

  #remember(dataKey: Uint8Array): void {
    if (!this.seen.some((key) => Buffer.from(key).equals(dataKey))) {
      this.seen.push(new Uint8Array(dataKey));
    }
  }
}

async function setUp(ledger: Ledger, documents: number): Promise<Map<string, number>> {
  await ledger.run(async (t) => {
    t.createTable('Item');
    await t.createIndex('Item', 'k');
    await t.createIndex('Item', 'serial', { unique: true });
  });
  const model = new Map<string, number>();
  for (let start = 0; start < documents; start += 10) {
    await ledger.run(async (t) => {
      for (let i = start; i < Math.min(start + 10, documents); i++) {
        const id = await t.insert('Item', ion(`{k: ${i % 7}, serial: ${i}, note: "item ${i}"}`));
        model.set(id, i % 7);
      }
    });
  }
  // Some history: updates that move documents between keys, and deletions.
  const ids = [...model.keys()];
  await ledger.run(async (t) => {
    for (const id of ids.slice(0, 5)) {
      await t.update('Item', id, ion(`{k: 100, serial: ${1000 + ids.indexOf(id)}}`));
      model.set(id, 100);
    }
    for (const id of ids.slice(5, 8)) {
      await t.delete('Item', id);
      model.delete(id);
    }
  });
  return model;
}

/** List every sealed payload of a ledger, with the context it was sealed for. */
async function sealedPayloads(
  store: Store,
  ledgerId: string,
): Promise<Array<{ payload: Uint8Array; context: string }>> {
  const last = (await store.lastBlock(ledgerId))!.seq;
  const payloads: Array<{ payload: Uint8Array; context: string }> = [];
  for (const block of await store.getBlocks(ledgerId, 0, last + 1)) {
    payloads.push({ payload: block.body, context: blockContext(block) });
  }
  for (const revision of await store.getRevisionsInBlocks(ledgerId, 0, last + 1)) {
    payloads.push({ payload: revision.payload, context: revisionContext(revision) });
  }
  for (const object of await store.loadCatalog(ledgerId)) {
    payloads.push({ payload: object.payload, context: catalogContext(object.objectId) });
  }
  return payloads;
}

async function lookupIds(ledger: Ledger, field: string, value: string): Promise<string[]> {
  return ledger.run(async (t) =>
    (await t.lookup('Item', field, ion(value))).map((revision) => revision.id).sort(),
  );
}

function idsWith(model: Map<string, number>, k: number): string[] {
  return [...model]
    .filter(([, key]) => key === k)
    .map(([id]) => id)
    .sort();
}

async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

for (const backend of backends) {
  describe(`ledger rekey: ${backend.name}`, { skip: backend.skip }, () => {
    test('seals everything under the new key and destroys the old one', async () => {
      const fixture = await engineFixture(backend);
      const keys = new RecordingProvider();
      const engine = await fixture.open({
        keyProvider: keys,
        rekey: { batchBlocks: 3, batchEntries: 4 },
      });
      try {
        await engine.createLedger('vault');
        const ledger = await engine.ledger('vault');
        const model = await setUp(ledger, 40);
        const oldKey = keys.seen[0]!;
        const before = await ledger.digest();
        const { id, wrappedKey: oldWrapped } = await engine.ledgerKeyRecord('vault');

        const started = await engine.rekeyLedger('vault');
        assert.equal(started.keyGeneration, 1);
        assert.equal(started.retiringGeneration, 0);
        const done = await engine.waitForRekey('vault');
        assert.equal(done.rekey?.state, 'DONE', done.rekey?.error);
        assert.equal(done.keyGeneration, 1);
        assert.equal(done.retiringGeneration, undefined);
        assert.equal(done.rekey?.blocksDone, before.tipAddress.sequenceNo + 1);
        // 40 inserts, 5 updates and 3 deletions.
        assert.equal(done.rekey?.documentsResealed, 48);
        // Two indexes over the 37 documents left.
        assert.equal(done.rekey?.indexEntriesReplaced, 74);

        // The old wrapped key is gone from the store, and the new one differs.
        const record = (await engine.store.getLedger('vault'))!;
        assert.equal(record.retiringKey, undefined);
        assert.equal(record.keyGeneration, 1);
        assert.ok(!Buffer.from(record.wrappedKey).equals(oldWrapped));
        assert.equal(await engine.store.getState(REKEY_NAMESPACE, id), undefined);
        // The ledger forgot the old key, so it has generation 1 only.
        assert.deepEqual(ledger.cipher.generations, [1]);

        // The old key opens nothing, whichever layout it is tried with.
        const payloads = await sealedPayloads(engine.store, id);
        // 7 blocks, 48 revisions and 3 catalog objects.
        assert.equal(payloads.length, 58);
        const oldCiphers = [new LedgerCipher(oldKey, 0), new LedgerCipher(oldKey, 1)];
        for (const { payload, context } of payloads) {
          assert.equal(sealedGeneration(payload), 1, context);
          for (const cipher of oldCiphers) {
            assert.throws(() => cipher.open(payload, context), PayloadIntegrityError);
          }
          // The new key opens it, so the failures above are the key's.
          assert.ok(ledger.cipher.open(payload, context).length >= 0);
        }
        assert.deepEqual(await engine.store.listIndexEntries(id, 0, '', 1000), []);
        assert.equal((await engine.store.listIndexEntries(id, 1, '', 1000)).length, 74);

        // Reads and index lookups are exact, and the journal verifies with
        // the same digest at the same tip: hashes are over plaintext.
        for (const k of [0, 3, 6, 100]) {
          assert.deepEqual(await lookupIds(ledger, 'k', String(k)), idsWith(model, k));
        }
        assert.equal((await lookupIds(ledger, 'serial', '12')).length, 1);
        const documents = await ledger.run((t) => t.scan('Item'));
        assert.deepEqual(documents.map((d) => d.id).sort(), [...model.keys()].sort());
        assert.deepEqual(
          Buffer.from(await ledger.digestAt(before.tipAddress.sequenceNo)),
          Buffer.from(before.digest),
        );
        const verified = await verifyLedger(ledger);
        assert.equal(verified.blocks, before.tipAddress.sequenceNo + 1);

        // A second rekey works from the new generation.
        await engine.rekeyLedger('vault');
        assert.equal((await engine.waitForRekey('vault')).keyGeneration, 2);
        assert.deepEqual(await lookupIds(ledger, 'k', '3'), idsWith(model, 3));
      } finally {
        await engine.close();
      }

      // A fresh engine reads everything with the new key alone.
      const reopened = await fixture.open({ keyProvider: keys });
      try {
        const ledger = await reopened.ledger('vault');
        assert.deepEqual(ledger.cipher.generations, [2]);
        assert.equal((await ledger.run((t) => t.scan('Item'))).length, 37);
        await verifyLedger(ledger);
      } finally {
        await reopened.close();
        await fixture.remove();
      }
    });

    test('reads, writes and index lookups stay exact during a rekey', async () => {
      const fixture = await engineFixture(backend);
      const engine = await fixture.open({
        rekey: { batchBlocks: 2, batchEntries: 6, pauseMs: 2 },
      });
      try {
        await engine.createLedger('busy');
        const ledger = await engine.ledger('busy');
        const model = await setUp(ledger, 120);
        // Documents under key 5 that nobody writes during the rekey.
        const stable = idsWith(model, 5);
        assert.equal(stable.length, 16);

        await engine.rekeyLedger('busy');
        let rekeying = true;
        const finished = engine.waitForRekey('busy').finally(() => {
          rekeying = false;
        });
        const errors: unknown[] = [];
        let lookupsDuring = 0;
        let stableLookups = 0;
        let commits = 0;
        let serial = 10_000;

        const writer = async (lane: number) => {
          while (rekeying) {
            try {
              const written = await ledger.run(async (t) => {
                const changes = new Map<string, number>();
                const k = lane;
                changes.set(await t.insert('Item', ion(`{k: ${k}, serial: ${serial++}}`)), k);
                const movable = [...model].filter(([, key]) => key === lane || key === 50 + lane);
                if (movable.length > 0) {
                  const [target, key] = movable[Math.floor(Math.random() * movable.length)]!;
                  const next = key === lane ? 50 + lane : lane;
                  await t.update('Item', target, ion(`{k: ${next}, serial: ${serial++}}`));
                  changes.set(target, next);
                }
                return changes;
              });
              for (const [id, k] of written) model.set(id, k);
              commits += 1;
            } catch (error) {
              if (!(error instanceof OccConflictError)) errors.push(error);
            }
            // Leave gaps in which the readers' transactions can commit.
            await new Promise((resolve) => setTimeout(resolve, 3));
          }
        };
        const reader = async () => {
          while (rekeying) {
            try {
              // Documents nobody writes: always exactly the same set.
              assert.deepEqual(await lookupIds(ledger, 'k', '5'), stable);
              stableLookups += 1;
              // A lookup agrees with a scan in any transaction that commits.
              const k = Math.floor(Math.random() * 3);
              const transaction = ledger.begin();
              const found = (await transaction.lookup('Item', 'k', ion(String(k)))).map(
                (r) => r.id,
              );
              const scanned = (await transaction.scan('Item'))
                .filter((r) => r.data?.get('k')?.numberValue() === k)
                .map((r) => r.id);
              try {
                await transaction.commit();
              } catch (error) {
                if (error instanceof OccConflictError) continue;
                throw error;
              }
              assert.equal(new Set(found).size, found.length, 'a lookup returned a duplicate');
              assert.deepEqual(found.sort(), scanned.sort());
              lookupsDuring += 1;
            } catch (error) {
              errors.push(error);
              return;
            }
          }
        };
        await Promise.all([writer(0), writer(1), writer(2), reader(), reader(), finished]);
        assert.deepEqual(errors, []);
        const status = await engine.rekeyStatus('busy');
        assert.equal(status.rekey?.state, 'DONE', status.rekey?.error);
        assert.ok(commits > 0, 'no write committed during the rekey');
        assert.ok(stableLookups > 10, `${stableLookups} lookups of unchanged documents`);
        assert.ok(lookupsDuring > 0, 'no lookup committed during the rekey');

        // Every committed document is readable, and lookups are exact after.
        const documents = await ledger.run((t) => t.scan('Item'));
        assert.deepEqual(
          new Map(documents.map((d) => [d.id, d.data!.get('k')!.numberValue()])),
          model,
        );
        for (const k of [0, 1, 2, 5, 50, 51, 52, 100]) {
          assert.deepEqual(await lookupIds(ledger, 'k', String(k)), idsWith(model, k));
        }
        const { id } = await engine.ledgerKeyRecord('busy');
        assert.deepEqual(await engine.store.listIndexEntries(id, 0, '', 10), []);
        for (const { payload, context } of await sealedPayloads(engine.store, id)) {
          assert.equal(sealedGeneration(payload), 1, context);
        }
        await verifyLedger(ledger);
      } finally {
        await engine.close();
        await fixture.remove();
      }
    });

    test('a rekey interrupted by a restart resumes at the next open and finishes', async () => {
      const fixture = await engineFixture(backend);
      const keys = new RecordingProvider();
      const slow = await fixture.open({
        keyProvider: keys,
        rekey: { batchBlocks: 1, pauseMs: 10 },
      });
      let id: string;
      let total: number;
      try {
        await slow.createLedger('restart');
        const ledger = await slow.ledger('restart');
        await setUp(ledger, 60);
        id = ledger.id;
        total = ledger.tipSeq + 1;
        await slow.rekeyLedger('restart');
        await waitUntil(
          async () => ((await slow.rekeyStatus('restart')).rekey?.blocksDone ?? 0) >= 3,
          'the rekey to seal three blocks',
        );
        // A second request while it runs is rejected.
        await assert.rejects(slow.rekeyLedger('restart'), {
          code: 'ResourceInUseException',
          message: /already running, from data key generation 0 to 1/,
        });
      } finally {
        await slow.close();
      }
      const record = (await fixture.open({ keyProvider: keys }).then(async (engine) => {
        // Read the stored state without opening the ledger, which would resume the rekey.
        const stored = await engine.store.getLedger('restart');
        const progress = await engine.store.getState(REKEY_NAMESPACE, id);
        const status: LedgerKeyStatus = await engine.rekeyStatus('restart');
        await engine.close();
        return { stored, progress, status };
      }))!;
      assert.equal(record.stored?.retiringKey?.generation, 0);
      const cursor = (
        JSON.parse(Buffer.from(record.progress!.value).toString()) as {
          blockCursor: number;
        }
      ).blockCursor;
      assert.ok(cursor >= 3, `cursor ${cursor} of ${total}`);
      assert.ok(cursor < total, `cursor ${cursor} of ${total}`);
      assert.equal(record.status.rekey?.blocksDone, cursor);

      const engine = await fixture.open({ keyProvider: keys });
      try {
        const ledger = await engine.ledger('restart');
        const done = await engine.waitForRekey('restart');
        assert.equal(done.rekey?.state, 'DONE', done.rekey?.error);
        assert.equal(done.retiringGeneration, undefined);
        // It went on from the cursor rather than from the start.
        assert.equal(done.rekey?.blocksDone, total);
        for (const { payload, context } of await sealedPayloads(engine.store, id)) {
          assert.equal(sealedGeneration(payload), 1, context);
        }
        assert.equal((await ledger.run((t) => t.scan('Item'))).length, 57);
        await verifyLedger(ledger);
      } finally {
        await engine.close();
        await fixture.remove();
      }
    });

    test('rekey ends open transactions early', async () => {
      const fixture = await engineFixture(backend);
      const engine = await fixture.open();
      try {
        await engine.createLedger('own');
        const ledger = await engine.ledger('own');
        await ledger.run(async (t) => {
          t.createTable('Item');
          await t.createIndex('Item', 'k');
        });
        const transaction = ledger.begin();
        await transaction.insert('Item', ion('{k: 1}'));
        await engine.rekeyLedger('own');

        // Its insert was indexed under the old key, so a lookup would miss it.
        // The next statement fails instead, as the commit would.
        await assert.rejects(transaction.lookup('Item', 'k', ion('1')), OccConflictError);
        assert.equal(transaction.state, 'aborted');
        await engine.waitForRekey('own');

        const found = await ledger.run(async (t) => {
          const id = await t.insert('Item', ion('{k: 1}'));
          return { id, ids: (await t.lookup('Item', 'k', ion('1'))).map((r) => r.id) };
        });
        assert.deepEqual(found.ids, [found.id]);
      } finally {
        await engine.close();
        await fixture.remove();
      }
    });

    test('refuses an unknown ledger', async () => {
      const fixture = await engineFixture(backend);
      const engine: Engine = await fixture.open();
      try {
        await assert.rejects(engine.rekeyLedger('missing'), {
          code: 'ResourceNotFoundException',
          message: 'Ledger missing does not exist',
        });
      } finally {
        await engine.close();
        await fixture.remove();
      }
    });
  });
}

const postgres = backends.find((backend) => backend.name === 'postgres')!;

describe('ledger rekey with two engines on one PostgreSQL store', { skip: postgres.skip }, () => {
  test('rekey while a second engine writes', async () => {
    const fixture = await engineFixture(postgres);
    const first = await fixture.open({ rekey: { batchBlocks: 2, batchEntries: 6, pauseMs: 2 } });
    const second = await fixture.open();
    try {
      await first.createLedger('pair');
      const model = await setUp(await first.ledger('pair'), 60);
      const other = await second.ledger('pair');

      await first.rekeyLedger('pair');
      let rekeying = true;
      const finished = first.waitForRekey('pair').finally(() => {
        rekeying = false;
      });
      let serial = 20_000;
      let commits = 0;
      const errors: unknown[] = [];
      const insert = async () => {
        const id = await other.run((t) => t.insert('Item', ion(`{k: 9, serial: ${serial++}}`)));
        model.set(id, 9);
        commits += 1;
      };
      const writer = async () => {
        while (rekeying) {
          await insert().catch((error: unknown) => {
            if (!(error instanceof OccConflictError)) errors.push(error);
          });
          await new Promise((resolve) => setTimeout(resolve, 3));
        }
      };
      await Promise.all([writer(), writer(), finished]);
      const during = commits;
      // And after the end, when the old key is gone from the store.
      for (let i = 0; i < 5; i++) await insert();
      assert.deepEqual(errors, []);
      const status = await first.rekeyStatus('pair');
      assert.equal(status.rekey?.state, 'DONE', status.rekey?.error);
      assert.ok(during > 0, 'the other engine committed nothing during the rekey');

      const { id } = await first.ledgerKeyRecord('pair');
      for (const { payload, context } of await sealedPayloads(first.store, id)) {
        assert.equal(sealedGeneration(payload), 1, context);
      }
      // Both engines, and a third one opened afterwards, read every document
      // and find exactly the right ones by index.
      const third = await fixture.open();
      try {
        for (const engine of [first, second, third]) {
          const ledger = await engine.ledger('pair');
          await ledger.sync();
          const documents = await ledger.run((t) => t.scan('Item'));
          assert.deepEqual(
            new Map(documents.map((d) => [d.id, d.data!.get('k')!.numberValue()])),
            model,
          );
          assert.deepEqual(await lookupIds(ledger, 'k', '9'), idsWith(model, 9));
        }
        await verifyLedger(await third.ledger('pair'));
      } finally {
        await third.close();
      }
    } finally {
      await first.close();
      await second.close();
      await fixture.remove();
    }
  });
});
