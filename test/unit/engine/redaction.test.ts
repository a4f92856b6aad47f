import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dom, dumpText, load } from 'ion-js';
import { verifyLedger } from '../../../src/cli/verify-ledger.js';
import { Engine, executeStatement, type Ledger } from '../../../src/engine/index.js';
import { ionHash } from '../../../src/engine/ion/index.js';
import { verifyBlock, verifyRevision } from '../../../src/verifier/index.js';
import { tempDir } from '../../helpers/backends.js';
import { toIon } from '../partiql/ledger-fixture.js';

/**
 * EXEC redact_revision: an inactive revision loses its data for good, keeps
 * its hash, and the journal and every proof still verify.
 */
describe('redacting revisions', () => {
  let dir: ReturnType<typeof tempDir>;
  let engine: Engine;
  let ledger: Ledger;

  const run = (text: string, ...parameters: unknown[]) =>
    ledger.run((tx) => executeStatement(tx, text, parameters.map(toIon)), { retryLimit: 0 });
  const values = async (text: string, ...parameters: unknown[]) =>
    (await run(text, ...parameters)).values as dom.Value[];

  /** Create a document with three revisions: the secret, its correction, and a later change. */
  async function person(): Promise<{ tableId: string; docId: string }> {
    const [created] = await values('CREATE TABLE People');
    await run('CREATE INDEX ON People (pid)');
    const [inserted] = await values('INSERT INTO People ?', {
      pid: 1,
      name: 'Ada',
      ssn: '123-45-6789',
    });
    const docId = inserted!.get('documentId')!.stringValue()!;
    await run("UPDATE People SET ssn = 'removed' WHERE pid = 1");
    await run("UPDATE People SET name = 'Ada L.' WHERE pid = 1");
    return { tableId: created!.get('tableId')!.stringValue()!, docId };
  }

  async function historyOf(docId: string): Promise<dom.Value[]> {
    return values('SELECT * FROM history(People) AS h WHERE h.metadata.id = ?', docId);
  }

  beforeEach(async () => {
    dir = tempDir('vellum-redaction-');
    engine = await Engine.open({ dataDir: dir.path, createRootKey: true });
    await engine.createLedger('redaction');
    ledger = await engine.ledger('redaction');
  });

  afterEach(async () => {
    await engine.close();
    dir.remove();
  });

  test('redaction keeps hashes and proofs', async () => {
    const { tableId, docId } = await person();
    const before = await historyOf(docId);
    assert.equal(before.length, 3);
    const first = before[0]!;
    const sealed = (await ledger.store.getRevision(ledger.id, docId, 0))!.payload;
    const address = first.get('blockAddress')!;
    const dataHash = ionHash(first.get('data')!);

    const [result] = await values('EXEC redact_revision ?, ?, ?', address, tableId, docId);
    assert.equal(
      dumpText(result!),
      dumpText(
        dom.Value.from({
          blockAddress: {
            strandId: address.get('strandId')!.stringValue(),
            sequenceNo: address.get('sequenceNo')!.numberValue(),
          },
          tableId,
          documentId: docId,
          version: 0,
        }),
      ),
    );

    const redactingBlock = (await ledger.digest()).tipAddress.sequenceNo;
    const after = await historyOf(docId);
    assert.equal(after.length, 3);
    const redacted = after[0]!;
    assert.equal(redacted.get('data'), null, 'the redacted revision has no data');
    assert.deepEqual(
      Buffer.from(redacted.get('dataHash')!.uInt8ArrayValue()!),
      Buffer.from(dataHash),
    );
    assert.deepEqual(
      Buffer.from(redacted.get('hash')!.uInt8ArrayValue()!),
      Buffer.from(first.get('hash')!.uInt8ArrayValue()!),
      'the revision hash stays',
    );
    assert.equal(dumpText(redacted.get('metadata')!), dumpText(first.get('metadata')!));
    // The other revisions and the current document are untouched.
    assert.equal(dumpText(after[1]!), dumpText(before[1]!));
    assert.equal(dumpText(after[2]!), dumpText(before[2]!));
    const [current] = await values('SELECT * FROM People WHERE pid = 1');
    assert.equal(current!.get('name')!.stringValue(), 'Ada L.');

    // The revision's proof verifies against a digest taken after the redaction.
    const seq = address.get('sequenceNo')!.numberValue()!;
    const { digest, tipAddress } = await ledger.digest();
    const { revision, proof } = await ledger.getRevision(seq, docId, tipAddress.sequenceNo);
    assert.equal(revision.get('data'), null);
    const verified = verifyRevision({ revision, proof: proof!, digest, tipAddress });
    assert.equal(verified.version, 0);

    // The block that asked for it records the redaction, and every block verifies.
    const [block] = await ledger.blocks(redactingBlock, redactingBlock + 1);
    const info = block!.get('redactionInfo')!;
    assert.equal(info.get('documentId')!.stringValue(), docId);
    assert.equal(info.get('tableId')!.stringValue(), tableId);
    assert.equal(info.get('version')!.numberValue(), 0);
    assert.equal(block!.get('entriesHashList')!.elements().length, 2);
    verifyBlock({ block: block! });
    const [redactedBlock] = await ledger.blocks(seq, seq + 1);
    assert.equal(redactedBlock!.get('revisions')!.get(0)!.get('data'), null);
    verifyBlock({ block: redactedBlock! });
    const summary = await verifyLedger(ledger);
    assert.equal(summary.blocks, tipAddress.sequenceNo + 1);

    // The sealed data is gone from the database files, not only from query results.
    const files = () =>
      Buffer.concat(
        ['vellum.db', 'vellum.db-wal']
          .filter((name) => existsSync(join(dir.path, name)))
          .map((name) => readFileSync(join(dir.path, name))),
      );
    assert.equal(files().includes(Buffer.from(sealed)), false, 'while open');
    await engine.close();
    assert.equal(files().includes(Buffer.from(sealed)), false, 'once closed');
    engine = await Engine.open({ dataDir: dir.path });
    ledger = await engine.ledger('redaction');
    assert.equal((await historyOf(docId))[0]!.get('data'), null, 'redacted after a restart');
  });

  test('deleted document: revisions, not deletion', async () => {
    const { tableId, docId } = await person();
    await run('DELETE FROM People WHERE pid = 1');
    const history = await historyOf(docId);
    assert.equal(history.length, 4);
    const latestData = history[2]!;
    await run('EXEC redact_revision ?, ?, ?', latestData.get('blockAddress')!, tableId, docId);
    assert.equal((await historyOf(docId))[2]!.get('data'), null);
    await assert.rejects(
      run('EXEC redact_revision ?, ?, ?', history[3]!.get('blockAddress')!, tableId, docId),
      /Revision 3 of document \w+ is its deletion and holds no data to redact/,
    );
  });

  test('invalid redactions write nothing', async () => {
    const { tableId, docId } = await person();
    const history = await historyOf(docId);
    const address = (i: number) => history[i]!.get('blockAddress')!;
    const tip = (await ledger.digest()).tipAddress.sequenceNo;
    const cases: Array<[string, unknown[], RegExp]> = [
      [
        'the latest active revision',
        [address(2), tableId, docId],
        /Revision 2 of document \w+ is its latest active revision, which cannot be redacted/,
      ],
      [
        'a block without the document',
        [{ strandId: ledger.id, sequenceNo: 0 }, tableId, docId],
        /Block 0 holds no revision of document \w+; find the block address/,
      ],
      [
        'a block past the end',
        [{ strandId: ledger.id, sequenceNo: tip + 5 }, tableId, docId],
        new RegExp(`Block ${tip + 5} does not exist in this ledger; its last block is ${tip}`),
      ],
      [
        'another ledger',
        [{ strandId: 'A'.repeat(22), sequenceNo: 1 }, tableId, docId],
        /names strand A{22}, but this ledger's strand is/,
      ],
      ['an unknown table id', [address(0), 'B'.repeat(22), docId], /No table with id B{22} exists/],
      [
        'a table id that is not a string',
        [address(0), 7, docId],
        /table id argument .* must be a string, got int/,
      ],
      [
        'an address with sequenceNo twice',
        [load(`{strandId: "${ledger.id}", sequenceNo: 0, sequenceNo: 1}`)!, tableId, docId],
        /block address of redact_revision has sequenceNo 2 times/,
      ],
      [
        'a negative sequenceNo',
        [{ strandId: ledger.id, sequenceNo: -1 }, tableId, docId],
        /sequenceNo of a block address is a block's position in the journal, got -1/,
      ],
      [
        'a sequenceNo past 2^53',
        [load(`{strandId: "${ledger.id}", sequenceNo: 9007199254740993}`)!, tableId, docId],
        /got 9007199254740993/,
      ],
      [
        'an address that is not a struct',
        ['ion:"{strandId: x}"', tableId, docId],
        /first argument of redact_revision must be a block address/,
      ],
    ];
    for (const [name, parameters, message] of cases) {
      await assert.rejects(run('EXEC redact_revision ?, ?, ?', ...parameters), message, name);
    }
    await assert.rejects(
      run('EXEC redact_revision ?, ?', address(0), tableId),
      /takes 3 arguments, got 2/,
    );
    await assert.rejects(run('EXEC drop_everything'), /Unknown stored procedure drop_everything/);
    // Nothing was written: no block was added, and the first revision still has its data.
    assert.equal((await ledger.digest()).tipAddress.sequenceNo, tip);
    assert.equal(
      (await historyOf(docId))[0]!.get('data')!.get('ssn')!.stringValue(),
      '123-45-6789',
    );
  });

  test('one redaction per transaction and revision', async () => {
    const { tableId, docId } = await person();
    const history = await historyOf(docId);
    const address = (i: number) => history[i]!.get('blockAddress')!;
    await assert.rejects(
      ledger.run(
        async (tx) => {
          await executeStatement(tx, 'EXEC redact_revision ?, ?, ?', [
            address(0),
            toIon(tableId),
            toIon(docId),
          ]);
          await executeStatement(tx, 'EXEC redact_revision ?, ?, ?', [
            address(1),
            toIon(tableId),
            toIon(docId),
          ]);
        },
        { retryLimit: 0 },
      ),
      /already redacts revision 0 of document \w+; a transaction may redact one revision/,
    );
    assert.ok((await historyOf(docId))[0]!.get('data'), 'the failed transaction redacted nothing');

    await run('EXEC redact_revision ?, ?, ?', address(0), tableId, docId);
    await assert.rejects(
      run('EXEC redact_revision ?, ?, ?', address(0), tableId, docId),
      /Revision 0 of document \w+ is already redacted/,
    );

    // Literal arguments, as QLDB's documentation writes them, work too.
    const seq = address(1).get('sequenceNo')!.numberValue();
    await run(
      `EXEC redact_revision \`{strandId: "${ledger.id}", sequenceNo: ${seq}}\`, '${tableId}', '${docId}'`,
    );

    const after = await historyOf(docId);
    assert.equal(after[0]!.get('data'), null);
    assert.equal(after[1]!.get('data'), null);
    assert.equal(
      (await verifyLedger(ledger)).blocks,
      (await ledger.digest()).tipAddress.sequenceNo + 1,
    );
  });

  test('concurrent redactions: one commits', async () => {
    const { tableId, docId } = await person();
    const address = (await historyOf(docId))[0]!.get('blockAddress')!;
    const first = ledger.begin();
    const second = ledger.begin();
    for (const tx of [first, second]) {
      await executeStatement(tx, 'EXEC redact_revision ?, ?, ?', [
        address,
        toIon(tableId),
        toIon(docId),
      ]);
    }
    const outcomes = await Promise.allSettled([first.commit(), second.commit()]);
    assert.deepEqual(
      outcomes.map((outcome) => outcome.status),
      ['fulfilled', 'rejected'],
    );
    assert.equal(
      ((outcomes[1] as PromiseRejectedResult).reason as Error).name,
      'OccConflictException',
    );
  });

  test('a redaction during a rekey stays redacted', async () => {
    const { tableId, docId } = await person();
    for (let i = 0; i < 40; i++) await run('INSERT INTO People ?', { pid: 100 + i });
    const history = await historyOf(docId);
    await engine.close();
    // Small batches with pauses, so that the redaction lands while the rekey walks.
    engine = await Engine.open({ dataDir: dir.path, rekey: { batchBlocks: 1, pauseMs: 5 } });
    ledger = await engine.ledger('redaction');
    await engine.rekeyLedger('redaction');
    await run('EXEC redact_revision ?, ?, ?', history[0]!.get('blockAddress')!, tableId, docId);
    const status = await engine.waitForRekey('redaction');
    assert.equal(status.rekey?.state, 'DONE', status.rekey?.error);
    assert.equal((await historyOf(docId))[0]!.get('data'), null);
    await verifyLedger(ledger);
  });
});
