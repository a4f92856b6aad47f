import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from 'ion-js';
import { Engine } from '../../../src/engine/index.js';
import { ControlPlaneService, type RestRequest } from '../../../src/services/qldb/control-plane.js';
import { ServiceError, type RequestContext } from '../../../src/services/types.js';
import { verifyRevision } from '../../../src/verifier/index.js';
import { tempDir } from '../../helpers/backends.js';

const context: RequestContext = {
  principal: {
    accountId: '111122223333',
    arn: 'arn:aws:iam::111122223333:root',
    userId: '111122223333',
    accessKeyId: 'AKIA',
  },
  requestId: 'r',
  region: 'eu-west-2',
};

describe('QLDB control plane', () => {
  const dir = tempDir();
  let engine: Engine;
  let service: ControlPlaneService;
  const call = (operation: string, request: Partial<RestRequest> = {}) => {
    const route = service.routes().find((r) => r.operation === operation)!;
    return route.handle({ params: {}, query: {}, body: undefined, ...request }, context);
  };
  const rejectsWith = (promise: Promise<unknown>, code: string, status: number) =>
    assert.rejects(promise, (error) => {
      assert.ok(error instanceof ServiceError, String(error));
      assert.equal(error.code, code);
      assert.equal(error.status, status);
      return true;
    });

  before(async () => {
    engine = await Engine.open({ dataDir: dir.path });
    service = new ControlPlaneService({ engine, accountId: '111122223333', region: 'eu-west-2' });
  });
  after(async () => {
    await engine.close();
    dir.remove();
  });

  test('creates, describes, updates, lists and deletes ledgers', async () => {
    const created = await call('CreateLedger', {
      body: { Name: 'books', PermissionsMode: 'STANDARD', Tags: { team: 'a' } },
    });
    assert.equal(created.Arn, 'arn:aws:qldb:eu-west-2:111122223333:ledger/books');
    assert.equal(created.State, 'CREATING');
    assert.equal(created.DeletionProtection, true);
    const ready = await call('DescribeLedger', { params: { name: 'books' } });
    assert.equal(ready.State, 'ACTIVE');
    assert.equal(typeof created.CreationDateTime, 'number');
    assert.ok((created.CreationDateTime as number) < 1e11, 'epoch seconds, not milliseconds');

    await rejectsWith(
      call('CreateLedger', { body: { Name: 'books', PermissionsMode: 'STANDARD' } }),
      'ResourceAlreadyExistsException',
      409,
    );
    await rejectsWith(
      call('CreateLedger', { body: { Name: '123', PermissionsMode: 'STANDARD' } }),
      'InvalidParameterException',
      400,
    );
    await rejectsWith(
      call('CreateLedger', { body: { Name: 'x', PermissionsMode: 'OPEN' } }),
      'InvalidParameterException',
      400,
    );
    await rejectsWith(
      call('DescribeLedger', { params: { name: 'nope' } }),
      'ResourceNotFoundException',
      404,
    );

    const described = await call('DescribeLedger', { params: { name: 'books' } });
    assert.equal(described.PermissionsMode, 'STANDARD');
    await rejectsWith(
      call('DeleteLedger', { params: { name: 'books' } }),
      'ResourcePreconditionNotMetException',
      412,
    );
    const updated = await call('UpdateLedger', {
      params: { name: 'books' },
      body: { DeletionProtection: false },
    });
    assert.equal(updated.DeletionProtection, false);
    assert.equal(updated.PermissionsMode, undefined);
    const mode = await call('UpdateLedgerPermissionsMode', {
      params: { name: 'books' },
      body: { PermissionsMode: 'ALLOW_ALL' },
    });
    assert.deepEqual(mode, { Name: 'books', Arn: created.Arn, PermissionsMode: 'ALLOW_ALL' });

    const arn = created.Arn as string;
    await call('TagResource', { params: { resourceArn: arn }, body: { Tags: { stage: 'dev' } } });
    assert.deepEqual((await call('ListTagsForResource', { params: { resourceArn: arn } })).Tags, {
      team: 'a',
      stage: 'dev',
    });
    await call('UntagResource', { params: { resourceArn: arn }, query: { tagKeys: ['team'] } });
    assert.deepEqual((await call('ListTagsForResource', { params: { resourceArn: arn } })).Tags, {
      stage: 'dev',
    });

    for (const name of ['l1', 'l2', 'l3'])
      await call('CreateLedger', { body: { Name: name, PermissionsMode: 'ALLOW_ALL' } });
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await call('ListLedgers', { query: { max_results: '2', next_token: token } });
      names.push(...(page.Ledgers as Array<{ Name: string }>).map((l) => l.Name));
      token = page.NextToken as string | undefined;
    } while (token !== undefined);
    assert.deepEqual(names, ['books', 'l1', 'l2', 'l3']);

    await call('DeleteLedger', { params: { name: 'books' } });
    await rejectsWith(
      call('DescribeLedger', { params: { name: 'books' } }),
      'ResourceNotFoundException',
      404,
    );
  });

  test('returns digests, blocks and revisions whose proofs verify', async () => {
    await call('CreateLedger', { body: { Name: 'proofs', PermissionsMode: 'ALLOW_ALL' } });
    const ledger = await engine.ledger('proofs');
    let docId = '';
    await ledger.run(async (tx) => {
      tx.createTable('T');
    });
    await ledger.run(async (tx) => {
      docId = await tx.insert('T', load('{a: 1}')!);
    });
    const digest = await call('GetDigest', { params: { name: 'proofs' } });
    const tip = (digest.DigestTipAddress as { IonText: string }).IonText;
    const history = await ledger.documentHistory(docId);
    const address = `{strandId: "${ledger.id}", sequenceNo: ${history[0]!.blockAddress!.sequenceNo}}`;
    const revision = await call('GetRevision', {
      params: { name: 'proofs' },
      body: {
        BlockAddress: { IonText: address },
        DocumentId: docId,
        DigestTipAddress: { IonText: tip },
      },
    });
    const verified = verifyRevision({
      revision: (revision.Revision as { IonText: string }).IonText,
      proof: (revision.Proof as { IonText: string }).IonText,
      digest: Buffer.from(digest.Digest as string, 'base64'),
      tipAddress: tip,
    });
    assert.equal(verified.documentId, docId);

    const block = await call('GetBlock', {
      params: { name: 'proofs' },
      body: { BlockAddress: { IonText: address } },
    });
    assert.ok((block.Block as { IonText: string }).IonText.includes('transactionInfo'));
    assert.equal(block.Proof, undefined);
    await rejectsWith(
      call('GetBlock', {
        params: { name: 'proofs' },
        body: { BlockAddress: { IonText: '{strandId: "x", sequenceNo: 1}' } },
      }),
      'InvalidParameterException',
      400,
    );
    await rejectsWith(
      call('GetRevision', {
        params: { name: 'proofs' },
        body: { BlockAddress: { IonText: address }, DocumentId: 'short' },
      }),
      'InvalidParameterException',
      400,
    );

    // Addresses that parse as Ion but are not one address struct each get a
    // parameter error that quotes them, on both address fields.
    const strand = `strandId: "${ledger.id}"`;
    const malformed: Array<[string, RegExp]> = [
      ['8', /must be one Ion struct/],
      ['hello', /must be one Ion struct/],
      ['[1, 2]', /must be one Ion struct/],
      ['null.struct', /must be one Ion struct/],
      [`{${strand}, sequenceNo: 1} {a: 1}`, /must be one Ion struct/],
      [`{${strand}, sequenceNo: "3"}`, /sequenceNo as a non-negative integer/],
      [`{${strand}, sequenceNo: 3.0}`, /sequenceNo as a non-negative integer/],
      [`{${strand}, sequenceNo: -1}`, /sequenceNo as a non-negative integer/],
      [`{strandId: 5, sequenceNo: 1}`, /strandId as a string/],
      [`{${strand}, sequenceNo: 1, extra: 2}`, /has a field extra/],
      [`{${strand}, sequenceNo: 1, sequenceNo: 2}`, /has sequenceNo 2 times/],
      [`{strandId: "other", ${strand}, sequenceNo: 1}`, /has strandId 2 times/],
      [
        `{${strand}, sequenceNo: 99999999999999999999999}`,
        /sequenceNo 99999999999999999999999 is past the ledger's last block, \d+$/,
      ],
      ['{strandId: "', /is not valid Ion text/],
    ];
    for (const [text, message] of malformed) {
      for (const field of ['BlockAddress', 'DigestTipAddress']) {
        const body: Record<string, unknown> = {
          BlockAddress: { IonText: address },
          DigestTipAddress: { IonText: tip },
          [field]: { IonText: text },
        };
        await assert.rejects(call('GetBlock', { params: { name: 'proofs' }, body }), (error) => {
          assert.ok(error instanceof ServiceError, `${field} ${text}: ${String(error)}`);
          assert.equal(error.code, 'InvalidParameterException');
          assert.ok(error.message.startsWith(`${field} `), error.message);
          assert.match(error.message, message);
          return true;
        });
      }
    }
    // A digest tip past the journal, or before the block it would prove.
    const tipSeq = ledger.tipSeq;
    await assert.rejects(
      call('GetBlock', {
        params: { name: 'proofs' },
        body: {
          BlockAddress: { IonText: address },
          DigestTipAddress: { IonText: `{${strand}, sequenceNo: ${tipSeq + 100}}` },
        },
      }),
      new RegExp(`sequenceNo ${tipSeq + 100} is past the ledger's last block, ${tipSeq}`),
    );
    await assert.rejects(
      call('GetBlock', {
        params: { name: 'proofs' },
        body: {
          BlockAddress: { IonText: tip },
          DigestTipAddress: { IonText: `{${strand}, sequenceNo: 0}` },
        },
      }),
      new RegExp(`sequenceNo 0 is before block ${tipSeq}`),
    );
  });
});
