import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  IAMClient,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import {
  CreateKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  KMSClient,
} from '@aws-sdk/client-kms';
import {
  CreateLedgerCommand,
  DescribeLedgerCommand,
  GetBlockCommand,
  GetDigestCommand,
  GetRevisionCommand,
  QLDBClient,
} from '@aws-sdk/client-qldb';
import { QldbDriver, RetryConfig } from 'amazon-qldb-driver-nodejs';
import { verifyBlock, verifyRevision } from '../../src/verifier/index.js';
import {
  clientConfig,
  startVellumInstance,
  type VellumInstance,
} from '../helpers/vellum-instance.js';

const LEDGER = 'vault';

describe('journal proofs of a ledger under a customer managed key', () => {
  let vellum: VellumInstance;
  let root: QLDBClient;
  let kms: KMSClient;
  let keyId: string;
  let documentId: string;
  let blockAddress: string;

  before(async () => {
    vellum = await startVellumInstance({ keyCheckInterval: 200 });
    const config = clientConfig(vellum.url, vellum.rootCredentials);
    root = new QLDBClient(config);
    kms = new KMSClient(config);
    keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await root.send(
      new CreateLedgerCommand({ Name: LEDGER, PermissionsMode: 'ALLOW_ALL', KmsKey: keyId }),
    );
    const driver = new QldbDriver(
      LEDGER,
      { ...config, maxAttempts: undefined },
      {},
      2,
      new RetryConfig(0),
    );
    try {
      await driver.executeLambda((txn) => txn.execute('CREATE TABLE Secret'));
      await driver.executeLambda((txn) => txn.execute('INSERT INTO Secret ?', { code: 'hidden' }));
      const row = await driver.executeLambda(async (txn) => {
        const result = await txn.execute(
          'SELECT blockAddress, metadata.id FROM _ql_committed_Secret',
        );
        return result.getResultList()[0]!;
      });
      documentId = row.get('id')!.stringValue()!;
      const address = row.get('blockAddress')!;
      blockAddress = `{strandId: "${address.get('strandId')!.stringValue()}", sequenceNo: ${address.get('sequenceNo')!.numberValue()}}`;
    } finally {
      driver.close();
    }
  });
  after(async () => {
    await vellum?.dispose();
  });

  const proofRequests = (tip: string) => ({
    GetDigest: new GetDigestCommand({ Name: LEDGER }),
    GetBlock: new GetBlockCommand({
      Name: LEDGER,
      BlockAddress: { IonText: blockAddress },
      DigestTipAddress: { IonText: tip },
    }),
    GetRevision: new GetRevisionCommand({
      Name: LEDGER,
      BlockAddress: { IonText: blockAddress },
      DocumentId: documentId,
      DigestTipAddress: { IonText: tip },
    }),
  });

  /** Poll DescribeLedger until the ledger's key reaches `status`. */
  const waitForStatus = async (status: string) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const described = await root.send(new DescribeLedgerCommand({ Name: LEDGER }));
      if (described.EncryptionDescription?.EncryptionStatus === status) return;
      assert.ok(Date.now() < deadline, `the ledger never became ${status}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  test('callers without kms:Decrypt get digests but no journal data', async () => {
    const iam = new IAMClient(clientConfig(vellum.url, vellum.rootCredentials));
    await iam.send(new CreateUserCommand({ UserName: 'auditor' }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: 'auditor',
        PolicyName: 'qldb-only',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'qldb:*', Resource: '*' }],
        }),
      }),
    );
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'auditor' }))).AccessKey!;
    const auditor = new QLDBClient(
      clientConfig(vellum.url, {
        accessKeyId: key.AccessKeyId!,
        secretAccessKey: key.SecretAccessKey!,
      }),
    );
    const tip = (await root.send(new GetDigestCommand({ Name: LEDGER }))).DigestTipAddress!
      .IonText!;
    const { GetDigest: digest, ...dataRequests } = proofRequests(tip);
    const ownDigest = await auditor.send(digest);
    assert.ok(ownDigest.Digest!.length === 32, 'a digest holds no data, so no key is needed');
    for (const [operation, command] of Object.entries(dataRequests)) {
      await assert.rejects(
        auditor.send(command as GetBlockCommand),
        (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(error.name, 'AccessDeniedException', `${operation}: ${error.message}`);
          assert.equal(error.$metadata?.httpStatusCode, 403, operation);
          assert.match(error.message, /permissions to use the customer managed KMS key/);
          return true;
        },
      );
    }
  });

  test('inaccessible key stops proofs until enabled', async () => {
    const saved = await root.send(new GetDigestCommand({ Name: LEDGER }));
    const tip = saved.DigestTipAddress!.IonText!;
    await kms.send(new DisableKeyCommand({ KeyId: keyId }));
    await waitForStatus('KMS_KEY_INACCESSIBLE');
    for (const [operation, command] of Object.entries(proofRequests(tip))) {
      await assert.rejects(
        root.send(command as GetBlockCommand),
        (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(error.name, 'BadRequestException', `${operation}: ${error.message}`);
          assert.equal(error.$metadata?.httpStatusCode, 400, operation);
          assert.match(error.message, /does not have grant access on the KMS customer managed key/);
          return true;
        },
      );
    }

    // Once the key is enabled, proofs verify against the digest saved before.
    await kms.send(new EnableKeyCommand({ KeyId: keyId }));
    await waitForStatus('ENABLED');
    const requests = proofRequests(tip);
    const revision = await root.send(requests.GetRevision);
    const verified = verifyRevision({
      revision: revision.Revision!.IonText!,
      proof: revision.Proof!.IonText!,
      digest: saved.Digest!,
      tipAddress: tip,
    });
    assert.equal(verified.documentId, documentId);
    const block = await root.send(requests.GetBlock);
    verifyBlock({
      block: block.Block!.IonText!,
      proof: block.Proof!.IonText!,
      digest: saved.Digest!,
      tipAddress: tip,
    });
  });
});
