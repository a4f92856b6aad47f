import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dom, load } from 'ion-js';
import { LedgerError, OccConflictError, type Ledger } from '../../../src/engine/index.js';
import { backends, engineFixture } from '../../helpers/backends.js';

const ACCOUNTS = 8;
const OPENING_BALANCE = 1_000;
const TRANSFERS = 64;

const ion = (text: string): dom.Value => load(text)!;

/** Yield to the event loop a given number of times, to vary interleavings. */
async function pause(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function openAccounts(ledger: Ledger): Promise<void> {
  await ledger.run(async (t) => {
    t.createTable('Account');
    await t.createIndex('Account', 'no');
  });
  await ledger.run(async (t) => {
    for (let no = 0; no < ACCOUNTS; no++) {
      await t.insert('Account', ion(`{no: ${no}, balance: ${OPENING_BALANCE}}`));
    }
  });
}

async function balances(ledger: Ledger): Promise<number[]> {
  return ledger.run(async (t) => {
    const result = new Array<number>(ACCOUNTS).fill(0);
    for (const revision of await t.scan('Account')) {
      result[revision.data!.get('no')!.numberValue()!] = revision
        .data!.get('balance')!
        .numberValue()!;
    }
    return result;
  });
}

interface Transfer {
  from: number;
  to: number;
  amount: number;
  pauses: [number, number, number];
}

const transferArb: fc.Arbitrary<Transfer> = fc
  .record({
    from: fc.integer({ min: 0, max: ACCOUNTS - 1 }),
    offset: fc.integer({ min: 1, max: ACCOUNTS - 1 }),
    amount: fc.integer({ min: 1, max: 50 }),
    pauses: fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3)),
  })
  .map(({ from, offset, amount, pauses }) => ({
    from,
    to: (from + offset) % ACCOUNTS,
    amount,
    pauses,
  }));

async function transfer(
  ledger: Ledger,
  { from, to, amount, pauses }: Transfer,
): Promise<'committed' | 'conflict'> {
  const tx = ledger.begin();
  try {
    const [source] = await tx.lookup('Account', 'no', ion(String(from)));
    await pause(pauses[0]);
    const [target] = await tx.lookup('Account', 'no', ion(String(to)));
    await pause(pauses[1]);
    const debit = source!.data!.get('balance')!.numberValue()! - amount;
    const credit = target!.data!.get('balance')!.numberValue()! + amount;
    await tx.update('Account', source!.id, ion(`{no: ${from}, balance: ${debit}}`));
    await tx.update('Account', target!.id, ion(`{no: ${to}, balance: ${credit}}`));
    await pause(pauses[2]);
    await tx.commit();
    return 'committed';
  } catch (error) {
    assert.ok(error instanceof OccConflictError, `unexpected error: ${String(error)}`);
    assert.equal((error as LedgerError).code, 'OccConflictException');
    return 'conflict';
  }
}

/** A read-only audit: when it commits, the balances it saw must add up exactly. */
async function audit(ledger: Ledger, turns: number): Promise<number | 'conflict'> {
  const tx = ledger.begin();
  try {
    let total = 0;
    for (const revision of await tx.scan('Account')) {
      total += revision.data!.get('balance')!.numberValue()!;
      await pause(turns);
    }
    await tx.commit();
    return total;
  } catch (error) {
    assert.ok(error instanceof OccConflictError, `unexpected error: ${String(error)}`);
    return 'conflict';
  }
}

for (const backend of backends) {
  describe(`occ: ${backend.name}`, { skip: backend.skip }, () => {
    test('concurrent transfers keep the total', async () => {
      const fixture = await engineFixture(backend);
      const engine = await fixture.open();
      let run = 0;
      let committedTotal = 0;
      let conflictTotal = 0;
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.array(transferArb, { minLength: TRANSFERS, maxLength: TRANSFERS }),
            fc.array(fc.nat(2), { minLength: 4, maxLength: 4 }),
            async (transfers, auditPauses) => {
              run += 1;
              const name = `occ-${run}`;
              await engine.createLedger(name);
              const ledger = await engine.ledger(name);
              await openAccounts(ledger);

              const [outcomes, audits] = await Promise.all([
                Promise.all(transfers.map((t) => transfer(ledger, t))),
                Promise.all(auditPauses.map((turns) => audit(ledger, turns))),
              ]);

              const expected = new Array<number>(ACCOUNTS).fill(OPENING_BALANCE);
              transfers.forEach((t, i) => {
                if (outcomes[i] !== 'committed') return;
                expected[t.from]! -= t.amount;
                expected[t.to]! += t.amount;
              });
              const actual = await balances(ledger);
              assert.deepEqual(
                actual,
                expected,
                'every committed transfer is visible, no conflicted one is',
              );
              assert.equal(
                actual.reduce((a, b) => a + b, 0),
                ACCOUNTS * OPENING_BALANCE,
              );
              for (const seen of audits) {
                if (seen !== 'conflict')
                  assert.equal(
                    seen,
                    ACCOUNTS * OPENING_BALANCE,
                    'a committed audit saw a torn state',
                  );
              }

              const committed = outcomes.filter((o) => o === 'committed').length;
              committedTotal += committed;
              conflictTotal += outcomes.length - committed;
              assert.ok(committed >= 1, 'at least one transfer of each round commits');
            },
          ),
          { numRuns: 25 },
        );
      } finally {
        await engine.close();
        await fixture.remove();
      }
      // The interleavings must really contend, or the property proves little.
      assert.ok(
        conflictTotal > 0,
        `expected some conflicts, got ${committedTotal} commits and none`,
      );
    });

    test('write skew is prevented', async () => {
      // Two transactions each read both rows and change a different one: under
      // snapshot isolation both would commit; serializable OCC lets one through.
      const fixture = await engineFixture(backend);
      const engine = await fixture.open();
      try {
        await engine.createLedger('skew');
        const ledger = await engine.ledger('skew');
        const [a, b] = await ledger.run(async (t) => {
          t.createTable('Doctor');
          return [
            await t.insert('Doctor', ion('{onCall: true}')),
            await t.insert('Doctor', ion('{onCall: true}')),
          ];
        });
        const first = ledger.begin();
        const second = ledger.begin();
        for (const tx of [first, second]) {
          await tx.get('Doctor', a!);
          await tx.get('Doctor', b!);
        }
        await first.update('Doctor', a!, ion('{onCall: false}'));
        await second.update('Doctor', b!, ion('{onCall: false}'));
        const results = await Promise.allSettled([first.commit(), second.commit()]);
        assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      } finally {
        await engine.close();
        await fixture.remove();
      }
    });

    test('phantom insert conflicts with a scan', async () => {
      const fixture = await engineFixture(backend);
      const engine = await fixture.open();
      try {
        await engine.createLedger('phantom');
        const ledger = await engine.ledger('phantom');
        await ledger.run(async (t) => {
          t.createTable('Seat');
        });
        const counter = ledger.begin();
        assert.equal((await counter.scan('Seat')).length, 0);
        await ledger.run(async (t) => {
          await t.insert('Seat', ion('{n: 1}'));
        });
        await counter.insert('Seat', ion('{n: 1}'));
        await assert.rejects(counter.commit(), { code: 'OccConflictException' });
        await ledger.run(async (t) => {
          assert.equal((await t.scan('Seat')).length, 1);
        });
      } finally {
        await engine.close();
        await fixture.remove();
      }
    });

    test('expired conflict keys are forgotten', async () => {
      const fixture = await engineFixture(backend);
      // A short timeout, so that marks expire in seconds: they are kept for
      // the timeout plus about a second.
      const engine = await fixture.open({ transactionTimeoutMs: 300 });
      try {
        await engine.createLedger('forget');
        const ledger = await engine.ledger('forget');
        await ledger.run(async (t) => {
          t.createTable('Item');
          await t.createIndex('Item', 'n');
        });
        const ids: string[] = [];
        for (let n = 0; n < 20; n++) {
          ids.push(await ledger.run((t) => t.insert('Item', ion(`{n: ${n}}`))));
        }
        // One document mark and one index mark per insert.
        assert.ok(ledger.conflictKeys >= 40, `${ledger.conflictKeys} keys after 20 inserts`);

        await new Promise((resolve) => setTimeout(resolve, 1_050));
        await ledger.run((t) => t.insert('Item', ion('{n: 100}')));
        await new Promise((resolve) => setTimeout(resolve, 1_550));

        const reader = ledger.begin();
        assert.ok(await reader.get('Item', ids[0]!));
        // This commit prunes what the first commits marked, but not the
        // key it marks itself, which the reader's read is older than.
        await ledger.run((t) => t.update('Item', ids[0]!, ion('{n: 0, changed: true}')));
        assert.ok(ledger.conflictKeys <= 4, `${ledger.conflictKeys} keys after pruning`);
        await reader.insert('Item', ion('{n: 200}'));
        await assert.rejects(reader.commit(), OccConflictError);
      } finally {
        await engine.close();
        await fixture.remove();
      }
    });

    test('keys of batches in flight are forgotten', async () => {
      const fixture = await engineFixture(backend);
      const engine = await fixture.open({ transactionTimeoutMs: 300 });
      const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
      try {
        await engine.createLedger('in-flight');
        const ledger = await engine.ledger('in-flight');
        await ledger.run(async (t) => {
          t.createTable('Item');
          await t.createIndex('Item', 'n');
        });
        // Concurrent writers keep a batch planned beyond the durable tip
        // whenever the committer takes its once-a-second checkpoint.
        let n = 0;
        const until = Date.now() + 1_200;
        await Promise.all(
          Array.from({ length: 32 }, async () => {
            while (Date.now() < until) {
              await ledger.run((t) => t.insert('Item', ion(`{n: ${n++}}`)));
            }
          }),
        );
        assert.ok(ledger.conflictKeys >= 2 * n, `${ledger.conflictKeys} keys after ${n} inserts`);
        for (let round = 0; round < 2; round++) {
          await sleep(1_600);
          await ledger.run((t) => t.insert('Item', ion(`{n: ${n++}}`)));
        }
        // The last insert's document key and index key remain.
        assert.equal(ledger.conflictKeys, 2);
      } finally {
        await engine.close();
        await fixture.remove();
      }
    });
  });
}
