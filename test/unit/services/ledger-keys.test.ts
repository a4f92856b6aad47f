import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dom, dumpBinary, load } from 'ion-js';
import pino from 'pino';
import { Engine } from '../../../src/engine/index.js';
import { RootKeyProvider } from '../../../src/engine/keyring/root-key-file.js';
import { ControlPlaneService } from '../../../src/services/qldb/control-plane.js';
import {
  AWS_OWNED_KMS_KEY,
  KMS_WRAPPED,
  LEDGER_KEY_NAMESPACE,
  LedgerKeyService,
  NO_GRANT_MESSAGE,
  type LedgerKeyServiceOptions,
  OWNED_KEY_SERVICE,
} from '../../../src/services/qldb/ledger-keys.js';
import { SessionService } from '../../../src/services/qldb/session-service.js';
import { StateConflictError } from '../../../src/storage/store.js';
import { ServiceError, type Principal } from '../../../src/services/types.js';
import { backends, sharedStoreView, tempDir } from '../../helpers/backends.js';
import { referenceKeyPolicy } from '../../helpers/reference-stack.js';
import { ACCOUNT, REGION, kmsFixture } from './kms/kms-fixture.js';

const ROLE = 'record-role';
const VIA_QLDB = `qldb.${REGION}.amazonaws.com`;

/** The reference stack's key policy; with `withRole`, the role may decrypt. */
function policy(withRole: boolean): string {
  return referenceKeyPolicy({
    account: ACCOUNT,
    region: REGION,
    roleArns: withRole ? [`arn:aws:iam::${ACCOUNT}:role/${ROLE}`] : undefined,
  });
}

/** A session of the role; its user id takes the role's id once the role exists. */
const rolePrincipal: Principal = {
  accountId: ACCOUNT,
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${ROLE}/fn`,
  roleArn: `arn:aws:iam::${ACCOUNT}:role/${ROLE}`,
  userId: 'AROA:fn',
  accessKeyId: 'ASIA',
};

const backend = backends[0]!;

test('customer managed key: follow, disable, enable, change, deny', async () => {
  const env = await kmsFixture(backend);
  const dataDir = tempDir('vellum-cmk-');
  const { kms, identity, root } = env;
  const keys = new LedgerKeyService({
    store: env.store(),
    kms,
    identity,
    rootKey: Buffer.alloc(32, 9),
    accountId: ACCOUNT,
    region: REGION,
    checkIntervalMs: 60_000,
    logger: pino({ level: 'silent' }),
  });
  const engine = await Engine.open({
    dataDir: dataDir.path,
    store: env.store(),
    keyProvider: keys.keyProvider,
  });
  await keys.start(engine);
  const plane = new ControlPlaneService({ engine, accountId: ACCOUNT, region: REGION, keys });
  const sessions = new SessionService({ engine, accountId: ACCOUNT, region: REGION, gate: keys });
  const call = (
    operation: string,
    request: { params?: Record<string, string>; body?: Record<string, unknown> },
  ) =>
    plane
      .routes()
      .find((route) => route.operation === operation)!
      .handle({ params: request.params ?? {}, query: {}, body: request.body }, root);
  const roleContext = { ...root, principal: rolePrincipal };

  /** Count the documents with `id = 1` as the role, in a new session. */
  async function roundTrip(): Promise<number> {
    const send = (body: Record<string, unknown>) =>
      sessions.handle('SendCommand', body, roleContext) as Promise<
        Record<string, Record<string, unknown>>
      >;
    const token = (await send({ StartSession: { LedgerName: 'ledger' } })).StartSession!
      .SessionToken;
    const started = await send({ SessionToken: token, StartTransaction: {} });
    const txId = started.StartTransaction!.TransactionId as string;
    const execute = async (statement: string, parameters: unknown[]) =>
      (
        await send({
          SessionToken: token,
          ExecuteStatement: {
            TransactionId: txId,
            Statement: statement,
            Parameters: parameters.map((p) => ({
              IonBinary: Buffer.from(dumpBinary(dom.Value.from(p as never))).toString('base64'),
            })),
          },
        })
      ).ExecuteStatement!;
    const selected = await execute('SELECT * FROM Test WHERE id = ?', [1]);
    await send({ SessionToken: token, AbortTransaction: {} });
    await send({ SessionToken: token, EndSession: {} });
    return (selected.FirstPage as { Values: unknown[] }).Values.length;
  }

  try {
    const trust = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'lambda.amazonaws.com' },
          Action: 'sts:AssumeRole',
        },
      ],
    });
    const role = await identity.createRole({ roleName: ROLE, assumeRolePolicyDocument: trust });
    rolePrincipal.userId = `${role.id}:fn`;
    const keyIds: Record<string, string> = {};
    for (const [name, withRole] of [
      ['main', true],
      ['rotate', true],
      ['no-access', false],
    ] as const) {
      keyIds[name] = (await kms.createKey({ Policy: policy(withRole) }, root)).KeyMetadata.KeyId;
    }
    const arn = (id: string) => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
    await kms.invoke(
      'CreateAlias',
      { AliasName: 'alias/ledger-key', TargetKeyId: keyIds.main },
      root,
    );

    const created = await call('CreateLedger', {
      body: {
        Name: 'ledger',
        PermissionsMode: 'ALLOW_ALL',
        KmsKey: 'alias/ledger-key',
        DeletionProtection: false,
      },
    });
    assert.equal(created.KmsKeyArn, arn(keyIds.main!));
    await engine
      .ledger('ledger')
      .then((ledger) => ledger.run(async (tx) => void tx.createTable('Test')));
    await (
      await engine.ledger('ledger')
    ).run(async (tx) => void (await tx.createIndex('Test', 'id')));
    const ledger = await engine.ledger('ledger');
    await ledger.run(async (tx) => void (await tx.insert('Test', load('{id: 1}')!)));
    assert.equal(await roundTrip(), 1);
    let description = (await call('DescribeLedger', { params: { name: 'ledger' } }))
      .EncryptionDescription as Record<string, unknown>;
    assert.deepEqual(description, { KmsKeyArn: arn(keyIds.main!), EncryptionStatus: 'ENABLED' });

    // Disabled key: inaccessible after the next check, new sessions refused; enabled: back.
    await kms.invoke('DisableKey', { KeyId: keyIds.main }, root);
    await keys.checkAll();
    description = (await call('DescribeLedger', { params: { name: 'ledger' } }))
      .EncryptionDescription as Record<string, unknown>;
    assert.equal(description.EncryptionStatus, 'KMS_KEY_INACCESSIBLE');
    assert.equal(typeof description.InaccessibleKmsKeyDateTime, 'number');
    await assert.rejects(
      roundTrip(),
      (error) => error instanceof ServiceError && error.message === NO_GRANT_MESSAGE,
    );
    await kms.invoke('EnableKey', { KeyId: keyIds.main }, root);
    await keys.checkAll();
    description = (await call('DescribeLedger', { params: { name: 'ledger' } }))
      .EncryptionDescription as Record<string, unknown>;
    assert.deepEqual(description, { KmsKeyArn: arn(keyIds.main!), EncryptionStatus: 'ENABLED' });
    assert.equal(await roundTrip(), 1);

    // The alias moves: the ledger follows it, UPDATING then ENABLED, data intact.
    await kms.invoke(
      'UpdateAlias',
      { AliasName: 'alias/ledger-key', TargetKeyId: keyIds.rotate },
      root,
    );
    await keys.checkAll();
    description = (await call('DescribeLedger', { params: { name: 'ledger' } }))
      .EncryptionDescription as Record<string, unknown>;
    assert.equal(description.KmsKeyArn, arn(keyIds.rotate!));
    await keys.close();
    await keys.checkAll();
    description = (await call('DescribeLedger', { params: { name: 'ledger' } }))
      .EncryptionDescription as Record<string, unknown>;
    assert.deepEqual(description, { KmsKeyArn: arn(keyIds.rotate!), EncryptionStatus: 'ENABLED' });
    const grantsOn = async (keyId: string) =>
      ((await kms.invoke('ListGrants', { KeyId: keyId }, root)) as { Grants: unknown[] }).Grants
        .length;
    assert.deepEqual([await grantsOn(keyIds.main!), await grantsOn(keyIds.rotate!)], [0, 1]);
    engine.forget('ledger');
    assert.equal(await roundTrip(), 1);

    // A key the role may not use: the ledger works, the role is denied with QLDB's message.
    const updated = await call('UpdateLedger', {
      params: { name: 'ledger' },
      body: { KmsKey: keyIds['no-access'] },
    });
    assert.deepEqual(updated.EncryptionDescription, {
      KmsKeyArn: arn(keyIds['no-access']!),
      EncryptionStatus: 'UPDATING',
    });
    await keys.close();
    await assert.rejects(roundTrip(), (error) => {
      assert.ok(error instanceof ServiceError);
      assert.equal(error.code, 'AccessDeniedException');
      assert.match(
        error.message,
        /^The user does not have permissions to use the customer managed KMS key of the ledger \(KMS Request ID: [0-9a-f-]{36}\) : /,
      );
      return true;
    });

    // Disabling the key the alias now targets does not touch a ledger bound to another key.
    await kms.invoke('DisableKey', { KeyId: keyIds.rotate }, root);
    await keys.checkAll();
    description = (await call('DescribeLedger', { params: { name: 'ledger' } }))
      .EncryptionDescription as Record<string, unknown>;
    assert.equal(description.EncryptionStatus, 'ENABLED');

    // Deleting the key shreds the data: nothing can unwrap the data key any more.
    await kms.invoke(
      'ScheduleKeyDeletion',
      { KeyId: keyIds['no-access'], PendingWindowInDays: 7 },
      root,
    );
    env.advance(8 * 1000);
    await kms.runDueWork();
    await keys.checkAll();
    description = (await call('DescribeLedger', { params: { name: 'ledger' } }))
      .EncryptionDescription as Record<string, unknown>;
    assert.equal(description.EncryptionStatus, 'KMS_KEY_INACCESSIBLE');
    await assert.rejects(engine.ledger('ledger'));
    // Crypto-shredding: with the store and the root key in hand, the data key
    // still cannot be unwrapped, since only the deleted KMS key could.
    const { id, wrappedKey } = await engine.ledgerKeyRecord('ledger');
    await assert.rejects(new RootKeyProvider(Buffer.alloc(32, 9)).unwrap(id, wrappedKey));
    await assert.rejects(
      kms.decrypt({ CiphertextBlob: wrappedKey.subarray(1) }, root),
      (error: Error) => error instanceof ServiceError && /does not exist/.test(error.message),
    );
  } finally {
    await keys.close();
    sessions.close();
    await engine.close();
    await env.dispose();
    dataDir.remove();
  }
});

test('customer managed key: revoked grant, denying policy, deletion, restart', async () => {
  const env = await kmsFixture(backend);
  const dataDir = tempDir('vellum-cmk-');
  const { root } = env;
  const open = async () => {
    const keys = new LedgerKeyService({
      store: env.store(),
      kms: env.kms,
      identity: env.identity,
      rootKey: Buffer.alloc(32, 9),
      accountId: ACCOUNT,
      region: REGION,
      checkIntervalMs: 60_000,
      logger: pino({ level: 'silent' }),
    });
    const engine = await Engine.open({
      dataDir: dataDir.path,
      store: env.store(),
      keyProvider: keys.keyProvider,
    });
    await keys.start(engine);
    const plane = new ControlPlaneService({ engine, accountId: ACCOUNT, region: REGION, keys });
    return { keys, engine, plane };
  };
  let services = await open();
  const call = (operation: string, body?: Record<string, unknown>) =>
    services.plane
      .routes()
      .find((route) => route.operation === operation)!
      .handle({ params: { name: 'ledger' }, query: {}, body }, root);
  const status = async () =>
    ((await call('DescribeLedger')).EncryptionDescription as Record<string, unknown>)
      .EncryptionStatus;
  const documents = async () => {
    const ledger = await services.engine.ledger('ledger');
    return ledger.run(async (tx) => (await tx.scan('Test')).length);
  };

  try {
    const keyId = (await env.kms.createKey({ Policy: policy(false) }, root)).KeyMetadata.KeyId;
    await call('CreateLedger', { Name: 'ledger', PermissionsMode: 'ALLOW_ALL', KmsKey: keyId });
    const ledger = await services.engine.ledger('ledger');
    await ledger.run(async (tx) => void tx.createTable('Test'));
    await ledger.run(async (tx) => void (await tx.insert('Test', load('{id: 1}')!)));

    // A revoked grant: inaccessible until UpdateLedger gives the ledger a new one.
    const grants = (await env.kms.invoke('ListGrants', { KeyId: keyId }, root)) as {
      Grants: Array<{ GrantId: string }>;
    };
    assert.equal(grants.Grants.length, 1);
    await env.kms.invoke('RevokeGrant', { KeyId: keyId, GrantId: grants.Grants[0]!.GrantId }, root);
    await services.keys.checkAll();
    assert.equal(await status(), 'KMS_KEY_INACCESSIBLE');
    await call('UpdateLedger', { KmsKey: keyId });
    await services.keys.close();
    assert.equal(await status(), 'ENABLED');
    assert.equal(await documents(), 1);
    const after = (await env.kms.invoke('ListGrants', { KeyId: keyId }, root)) as {
      Grants: Array<{ GrantId: string }>;
    };
    assert.equal(after.Grants.length, 1);
    assert.notEqual(after.Grants[0]!.GrantId, grants.Grants[0]!.GrantId);

    // A key policy that denies the ledger's use through QLDB wins over the grant.
    const denying = JSON.parse(policy(false)) as { Statement: unknown[] };
    denying.Statement.push({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEquals: { 'kms:ViaService': VIA_QLDB } },
    });
    await env.kms.invoke(
      'PutKeyPolicy',
      { KeyId: keyId, PolicyName: 'default', Policy: JSON.stringify(denying) },
      root,
    );
    await services.keys.checkAll();
    assert.equal(await status(), 'KMS_KEY_INACCESSIBLE');
    await env.kms.invoke(
      'PutKeyPolicy',
      { KeyId: keyId, PolicyName: 'default', Policy: policy(false) },
      root,
    );
    await services.keys.checkAll();
    assert.equal(await status(), 'ENABLED');

    // Pending deletion, then cancelled (which leaves the key disabled), then enabled.
    await env.kms.invoke('ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: 7 }, root);
    await services.keys.checkAll();
    assert.equal(await status(), 'KMS_KEY_INACCESSIBLE');

    // The state survives a restart, and the ledger recovers once the key is usable.
    await services.keys.close();
    await services.engine.close();
    await env.restart();
    services = await open();
    assert.equal(await status(), 'KMS_KEY_INACCESSIBLE');
    await assert.rejects(services.engine.ledger('ledger'));
    await env.kms.invoke('CancelKeyDeletion', { KeyId: keyId }, root);
    await services.keys.checkAll();
    assert.equal(await status(), 'KMS_KEY_INACCESSIBLE');
    await env.kms.invoke('EnableKey', { KeyId: keyId }, root);
    await services.keys.checkAll();
    assert.equal(await status(), 'ENABLED');
    assert.equal(await documents(), 1);
  } finally {
    await services.keys.close();
    await services.engine.close();
    await env.dispose();
    dataDir.remove();
  }
});

/** Create a key service over `store`, with the root key file's key and a long guard interval. */
function newKeyService(
  env: Awaited<ReturnType<typeof kmsFixture>>,
  store = env.store(),
  options: Partial<LedgerKeyServiceOptions> = {},
): LedgerKeyService {
  return new LedgerKeyService({
    store,
    kms: env.kms,
    identity: env.identity,
    rootKey: ROOT_KEY,
    accountId: ACCOUNT,
    region: REGION,
    checkIntervalMs: 60_000,
    logger: pino({ level: 'silent' }),
    ...options,
  });
}

/**
 * Open a key service, an engine and a control plane over the fixture's store.
 * `keyStore` is the store as the key service sees it, and `options` change
 * the key service's settings.
 */
async function openLedgerServices(
  env: Awaited<ReturnType<typeof kmsFixture>>,
  dataDir: string,
  keyStore = env.store(),
  options: Partial<LedgerKeyServiceOptions> = {},
) {
  const keys = newKeyService(env, keyStore, options);
  const engine = await Engine.open({ dataDir, store: env.store(), keyProvider: keys.keyProvider });
  await keys.start(engine);
  const plane = new ControlPlaneService({ engine, accountId: ACCOUNT, region: REGION, keys });
  const call = (
    operation: string,
    name: string,
    body?: Record<string, unknown>,
  ): Promise<Record<string, unknown>> =>
    plane
      .routes()
      .find((route) => route.operation === operation)!
      .handle({ params: { name }, query: {}, body }, env.root);
  const documents = async (name: string): Promise<string[]> => {
    engine.forget(name);
    const ledger = await engine.ledger(name);
    const found = await ledger.run(async (tx) => tx.scan('Test'));
    return found.map((revision) => String(revision.data?.get('note')));
  };
  return { keys, engine, call, documents };
}

const ROOT_KEY = Buffer.alloc(32, 9);

/** Count the grants on a key. */
async function grantCount(env: Awaited<ReturnType<typeof kmsFixture>>, keyId: string) {
  const listed = await env.kms.invoke('ListGrants', { KeyId: keyId }, env.root);
  return (listed as { Grants: unknown[] }).Grants.length;
}
const CONTEXT_OF = (ledgerId: string) => ({
  'key-hierarchy-node-id': ledgerId,
  'key-hierarchy-node-version': '1',
});

/** Return the key id that a wrapped data key names, or `root` for the root key file. */
function wrappingKeyId(wrapped: Uint8Array): string {
  if (wrapped[0] !== KMS_WRAPPED) return 'root';
  return Buffer.from(wrapped.subarray(3, 3 + wrapped[2]!)).toString('ascii');
}

test('Vellum-owned key: new ledgers and switching both ways', async () => {
  const env = await kmsFixture(backend);
  const dataDir = tempDir('vellum-owned-');
  const { keys, engine, call, documents } = await openLedgerServices(env, dataDir.path);
  const { kms, root } = env;
  try {
    const owned = await kms.ownedKey(OWNED_KEY_SERVICE);
    const created = await call('CreateLedger', '', {
      Name: 'owned',
      PermissionsMode: 'ALLOW_ALL',
      DeletionProtection: false,
    });
    assert.equal(created.KmsKeyArn, AWS_OWNED_KMS_KEY);
    const explicit = await call('CreateLedger', '', {
      Name: 'explicit',
      PermissionsMode: 'ALLOW_ALL',
      KmsKey: AWS_OWNED_KMS_KEY,
    });
    assert.equal(explicit.KmsKeyArn, AWS_OWNED_KMS_KEY);
    await (
      await engine.ledger('owned')
    ).run(async (tx) => {
      tx.createTable('Test');
      await tx.insert('Test', load('{note: "kept"}')!);
    });

    // The data key came from the owned key's GenerateDataKey, bound to the ledger id.
    for (const name of ['owned', 'explicit']) {
      const { id, wrappedKey } = await engine.ledgerKeyRecord(name);
      assert.equal(wrappedKey[0], KMS_WRAPPED);
      assert.equal(wrappingKeyId(wrappedKey), owned.keyId);
      assert.equal(owned.decrypt(wrappedKey.subarray(1), CONTEXT_OF(id)).length, 32);
      assert.equal((await call('DescribeLedger', name)).EncryptionDescription, undefined);
    }

    // The account lists no key and may not decrypt the data key.
    assert.deepEqual((await kms.handle('ListKeys', {}, root)).Keys, []);
    const { id, wrappedKey } = await engine.ledgerKeyRecord('owned');
    await assert.rejects(
      kms.decrypt(
        { CiphertextBlob: wrappedKey.subarray(1), EncryptionContext: CONTEXT_OF(id) },
        root,
      ),
      (error) => error instanceof ServiceError && error.code === 'AccessDeniedException',
    );

    // To a customer managed key and back: UPDATING, then ENABLED, the data intact.
    const keyId = (await kms.createKey({ Policy: policy(false) }, root)).KeyMetadata.KeyId;
    const keyArn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`;
    let updated = await call('UpdateLedger', 'owned', { KmsKey: keyId });
    assert.deepEqual(updated.EncryptionDescription, {
      KmsKeyArn: keyArn,
      EncryptionStatus: 'UPDATING',
    });
    await keys.close();
    assert.deepEqual((await call('DescribeLedger', 'owned')).EncryptionDescription, {
      KmsKeyArn: keyArn,
      EncryptionStatus: 'ENABLED',
    });
    assert.equal(wrappingKeyId((await engine.ledgerKeyRecord('owned')).wrappedKey), keyId);
    assert.deepEqual(await documents('owned'), ['kept']);

    updated = await call('UpdateLedger', 'owned', { KmsKey: AWS_OWNED_KMS_KEY });
    assert.deepEqual(updated.EncryptionDescription, {
      KmsKeyArn: AWS_OWNED_KMS_KEY,
      EncryptionStatus: 'UPDATING',
    });
    await keys.close();
    assert.equal((await call('DescribeLedger', 'owned')).EncryptionDescription, undefined);
    assert.equal(wrappingKeyId((await engine.ledgerKeyRecord('owned')).wrappedKey), owned.keyId);
    assert.deepEqual(await documents('owned'), ['kept']);

    // The customer key no longer matters: disabled, then deleted, the ledger works.
    await kms.invoke('DisableKey', { KeyId: keyId }, root);
    await keys.checkAll();
    assert.equal((await call('DescribeLedger', 'owned')).EncryptionDescription, undefined);
    assert.deepEqual(await documents('owned'), ['kept']);
    await kms.invoke('ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: 7 }, root);
    env.advance(8 * 1000);
    await kms.runDueWork();
    await keys.checkAll();
    assert.equal((await call('DescribeLedger', 'owned')).EncryptionDescription, undefined);
    assert.deepEqual(await documents('owned'), ['kept']);

    // And once more to a customer key, from the owned key the ledger was created with.
    const second = (await kms.createKey({ Policy: policy(false) }, root)).KeyMetadata.KeyId;
    await call('UpdateLedger', 'owned', { KmsKey: second });
    await keys.close();
    assert.equal(wrappingKeyId((await engine.ledgerKeyRecord('owned')).wrappedKey), second);
    assert.deepEqual(await documents('owned'), ['kept']);
  } finally {
    await keys.close();
    await engine.close();
    await env.dispose();
    dataDir.remove();
  }
});

test('Vellum-owned key: root-key-file data keys move under it', async () => {
  const env = await kmsFixture(backend);
  const dataDir = tempDir('vellum-owned-');
  const legacyDir = tempDir('vellum-legacy-');
  const { kms, root } = env;
  // Ledgers as the server wrote them before the owned key existed.
  const legacy = await Engine.open({
    dataDir: legacyDir.path,
    store: env.store(),
    keyProvider: new RootKeyProvider(ROOT_KEY),
  });
  const writeLegacy = async (name: string) => {
    await legacy.createLedger(name, { deletionProtection: false });
    await (
      await legacy.ledger(name)
    ).run(async (tx) => {
      tx.createTable('Test');
      await tx.insert('Test', load(`{note: "${name}"}`)!);
    });
    legacy.forget(name);
  };
  const saveConfig = (config: Record<string, unknown>) =>
    env
      .store()
      .putState(
        'qldb.ledgerKey',
        config.ledgerName as string,
        Buffer.from(JSON.stringify(config)),
        0,
      );
  await writeLegacy('plain');
  await writeLegacy('configured');
  await saveConfig({ ledgerName: 'configured', kmsKey: AWS_OWNED_KMS_KEY, status: 'ENABLED' });
  // A change to a customer key that was still pending when the old server stopped.
  const keyId = (await kms.createKey({ Policy: policy(false) }, root)).KeyMetadata.KeyId;
  const keyArn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`;
  const grant = await kms.invoke(
    'CreateGrant',
    {
      KeyId: keyArn,
      GranteePrincipal: 'qldb.amazonaws.com',
      RetiringPrincipal: 'qldb.amazonaws.com',
      Operations: ['Decrypt', 'Encrypt', 'GenerateDataKey', 'DescribeKey'],
    },
    root,
  );
  await writeLegacy('pending');
  await saveConfig({
    ledgerName: 'pending',
    kmsKey: AWS_OWNED_KMS_KEY,
    status: 'UPDATING',
    pending: { kmsKey: keyId, keyArn, grantId: grant.GrantId, grantToken: grant.GrantToken },
  });
  for (const name of ['plain', 'configured', 'pending']) {
    assert.equal(wrappingKeyId((await legacy.ledgerKeyRecord(name)).wrappedKey), 'root');
  }

  const { keys, engine, call, documents } = await openLedgerServices(env, dataDir.path);
  try {
    const owned = await kms.ownedKey(OWNED_KEY_SERVICE);
    await keys.close();
    // The start moved every data key off the root key file, without opening the ledgers.
    assert.equal(wrappingKeyId((await engine.ledgerKeyRecord('plain')).wrappedKey), owned.keyId);
    assert.equal(
      wrappingKeyId((await engine.ledgerKeyRecord('configured')).wrappedKey),
      owned.keyId,
    );
    assert.equal(wrappingKeyId((await engine.ledgerKeyRecord('pending')).wrappedKey), keyId);
    assert.deepEqual((await call('DescribeLedger', 'pending')).EncryptionDescription, {
      KmsKeyArn: keyArn,
      EncryptionStatus: 'ENABLED',
    });
    for (const name of ['plain', 'configured', 'pending']) {
      assert.deepEqual(await documents(name), [name]);
      const { id, wrappedKey } = await engine.ledgerKeyRecord(name);
      await assert.rejects(new RootKeyProvider(ROOT_KEY).unwrap(id, wrappedKey));
    }

    // A ledger that still comes with a root-key-file data key moves when it is opened.
    await writeLegacy('late');
    assert.equal(wrappingKeyId((await engine.ledgerKeyRecord('late')).wrappedKey), 'root');
    assert.deepEqual(await documents('late'), ['late']);
    await keys.close();
    assert.equal(wrappingKeyId((await engine.ledgerKeyRecord('late')).wrappedKey), owned.keyId);
    assert.deepEqual(await documents('late'), ['late']);
    const wrappings = await Promise.all(
      (await engine.listLedgers()).map(async (ledger) =>
        wrappingKeyId((await engine.ledgerKeyRecord(ledger.name)).wrappedKey),
      ),
    );
    assert.ok(!wrappings.includes('root'), `a data key is still under the root key file`);
  } finally {
    await keys.close();
    await engine.close();
    await env.dispose();
    dataDir.remove();
    legacyDir.remove();
  }
});

test('key changes retire unneeded grants', async () => {
  const env = await kmsFixture(backend);
  const dataDir = tempDir('vellum-grants-');
  const { keys, engine, call, documents } = await openLedgerServices(env, dataDir.path);
  const { kms, root } = env;
  const grantsOn = (keyId: string) => grantCount(env, keyId);
  const newKey = async () =>
    (await kms.createKey({ Policy: policy(false) }, root)).KeyMetadata.KeyId;
  try {
    const [a, b, c] = [await newKey(), await newKey(), await newKey()];
    await call('CreateLedger', '', {
      Name: 'ledger',
      PermissionsMode: 'ALLOW_ALL',
      KmsKey: a,
      DeletionProtection: false,
    });
    await (
      await engine.ledger('ledger')
    ).run(async (tx) => {
      tx.createTable('Test');
      await tx.insert('Test', { note: 'kept' });
    });
    assert.equal(await grantsOn(a), 1);

    // A finished change retires the grant on the key before it.
    await call('UpdateLedger', 'ledger', { KmsKey: b });
    await keys.close();
    assert.deepEqual([await grantsOn(a), await grantsOn(b)], [0, 1]);

    // A change replaced before it finished: its grant is kept while the data
    // key could be wrapped under its key, and retired when the later change
    // finishes. With b disabled, neither change can unwrap the data key yet.
    await kms.invoke('DisableKey', { KeyId: b }, root);
    await call('UpdateLedger', 'ledger', { KmsKey: c });
    await keys.close();
    await call('UpdateLedger', 'ledger', { KmsKey: a });
    await keys.close();
    assert.equal(
      ((await call('DescribeLedger', 'ledger')).EncryptionDescription as Record<string, unknown>)
        .EncryptionStatus,
      'UPDATING',
    );
    assert.deepEqual([await grantsOn(a), await grantsOn(b), await grantsOn(c)], [1, 1, 1]);
    await kms.invoke('EnableKey', { KeyId: b }, root);
    await keys.checkAll();
    await keys.close();
    assert.deepEqual((await call('DescribeLedger', 'ledger')).EncryptionDescription, {
      KmsKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${a}`,
      EncryptionStatus: 'ENABLED',
    });
    assert.equal(wrappingKeyId((await engine.ledgerKeyRecord('ledger')).wrappedKey), a);
    assert.deepEqual([await grantsOn(a), await grantsOn(b), await grantsOn(c)], [1, 0, 0]);
    assert.deepEqual(await documents('ledger'), ['kept']);

    // A grant revoked by hand is already gone, and the change after it still finishes.
    const [grant] = (
      (await kms.invoke('ListGrants', { KeyId: a }, root)) as { Grants: Array<{ GrantId: string }> }
    ).Grants;
    await kms.invoke('RevokeGrant', { KeyId: a, GrantId: grant!.GrantId }, root);
    await call('UpdateLedger', 'ledger', { KmsKey: c });
    await keys.close();
    assert.deepEqual([await grantsOn(a), await grantsOn(c)], [0, 1]);

    // Deleting the ledger retires its grant.
    await call('DeleteLedger', 'ledger');
    assert.equal(await grantsOn(c), 0);
  } finally {
    await keys.close();
    await engine.close();
    await env.dispose();
    dataDir.remove();
  }
});

test('servers sharing a store retire unneeded grants later', async () => {
  const env = await kmsFixture(backend);
  const dataDir = tempDir('vellum-shared-grants-');
  // Two servers sharing a store: every key decision reads it again.
  const shared = sharedStoreView(env.store());
  const delay = { grantRetirementDelayMs: 300 };
  const services = await openLedgerServices(env, dataDir.path, shared, delay);
  const { keys, engine } = services;
  const other = newKeyService(env, shared, delay);
  const call = (operation: string, body?: Record<string, unknown>) =>
    services.call(operation, 'ledger', body);
  const grantsOn = (keyId: string) => grantCount(env, keyId);
  const newKey = async () =>
    (await env.kms.createKey({ Policy: policy(false) }, env.root)).KeyMetadata.KeyId;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  try {
    await other.start(engine);
    const [a, b, c] = [await newKey(), await newKey(), await newKey()];
    await call('CreateLedger', { Name: 'ledger', PermissionsMode: 'ALLOW_ALL', KmsKey: a });

    // The grant on the key before a finished change outlives the change for
    // a while, and then the other server's guard retires it.
    await call('UpdateLedger', { KmsKey: b });
    await keys.close();
    await other.checkAll();
    assert.deepEqual([await grantsOn(a), await grantsOn(b)], [1, 1]);
    await pause(400);
    await other.checkAll();
    assert.deepEqual([await grantsOn(a), await grantsOn(b)], [0, 1]);
    // The first server's view was older; its guard retires nothing twice and fails nothing.
    await keys.checkAll();
    assert.equal(await grantsOn(b), 1);

    // A change that starts before the grants are due carries them, and they
    // are retired after that change finishes. The change back to key b gets
    // a grant of its own, not the one on b that waits to be retired: that
    // one goes, and the ledger keeps working under b.
    await call('UpdateLedger', { KmsKey: c });
    await keys.close();
    await call('UpdateLedger', { KmsKey: b });
    await keys.close();
    await keys.checkAll();
    assert.deepEqual([await grantsOn(a), await grantsOn(b), await grantsOn(c)], [0, 2, 1]);
    await pause(400);
    await keys.checkAll();
    assert.deepEqual([await grantsOn(a), await grantsOn(b), await grantsOn(c)], [0, 1, 0]);
    await call('UpdateLedger', { KmsKey: a });
    await keys.close();
    await pause(400);
    await other.checkAll();
    assert.deepEqual([await grantsOn(a), await grantsOn(b), await grantsOn(c)], [1, 0, 0]);
    assert.deepEqual((await call('DescribeLedger')).EncryptionDescription, {
      KmsKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${a}`,
      EncryptionStatus: 'ENABLED',
    });
    assert.equal(wrappingKeyId((await engine.ledgerKeyRecord('ledger')).wrappedKey), a);
  } finally {
    await other.close();
    await keys.close();
    await engine.close();
    await env.dispose();
    dataDir.remove();
  }
});

test('UpdateLedger gives up under contention', async () => {
  const env = await kmsFixture(backend);
  const dataDir = tempDir('vellum-contended-');
  // Every compare-and-set write of a ledger key configuration meets a newer
  // version, as if other servers changed it each time first.
  const store = env.store();
  let contended = false;
  const contendedStore = new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'putState') {
        return async (namespace: string, key: string, value: Uint8Array, version: number) => {
          if (contended && namespace === LEDGER_KEY_NAMESPACE) {
            throw new StateConflictError(namespace, key, version, version + 1);
          }
          return target.putState(namespace, key, value, version);
        };
      }
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const services = await openLedgerServices(env, dataDir.path, contendedStore);
  const { keys, engine } = services;
  const call = (operation: string, body?: Record<string, unknown>) =>
    services.call(operation, 'ledger', body);
  try {
    const { kms, root } = env;
    const keyId = (await kms.createKey({ Policy: policy(false) }, root)).KeyMetadata.KeyId;
    await call('CreateLedger', { Name: 'ledger', PermissionsMode: 'ALLOW_ALL' });
    contended = true;
    await assert.rejects(call('UpdateLedger', { KmsKey: keyId }), (error) => {
      assert.ok(error instanceof ServiceError);
      assert.equal(error.code, 'ResourceInUseException');
      assert.match(error.message, /ledger ledger changed 20 times .* Send the update again\.$/);
      return true;
    });
    // The grant made for the change is retired, and the ledger keeps its key.
    const grants = (await kms.invoke('ListGrants', { KeyId: keyId }, root)) as {
      Grants: unknown[];
    };
    assert.equal(grants.Grants.length, 0);
    contended = false;
    assert.equal((await call('DescribeLedger')).EncryptionDescription, undefined);
  } finally {
    await keys.close();
    await engine.close();
    await env.dispose();
    dataDir.remove();
  }
});

test('concurrent CreateLedger keeps first key', async () => {
  const env = await kmsFixture(backend);
  const dataDir = tempDir('vellum-create-race-');
  const { keys, engine, call } = await openLedgerServices(env, dataDir.path);
  const { kms, root } = env;
  try {
    const [a, b] = [
      (await kms.createKey({ Policy: policy(false) }, root)).KeyMetadata.KeyId,
      (await kms.createKey({ Policy: policy(false) }, root)).KeyMetadata.KeyId,
    ];
    const create = (keyId: string) =>
      call('CreateLedger', '', { Name: 'twice', PermissionsMode: 'ALLOW_ALL', KmsKey: keyId });
    const [first, second] = await Promise.allSettled([create(a), create(b)]);
    assert.equal(first.status, 'fulfilled');
    assert.equal(second.status, 'rejected');
    assert.equal((second as PromiseRejectedResult).reason.code, 'ResourceAlreadyExistsException');
    const arnOf = (id: string) => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
    assert.equal(
      (first as PromiseFulfilledResult<Record<string, unknown>>).value.KmsKeyArn,
      arnOf(a),
    );
    assert.deepEqual((await call('DescribeLedger', 'twice')).EncryptionDescription, {
      KmsKeyArn: arnOf(a),
      EncryptionStatus: 'ENABLED',
    });
    await keys.checkAll();
    assert.equal(wrappingKeyId((await engine.ledgerKeyRecord('twice')).wrappedKey), a);
    const grants = async (keyId: string) =>
      ((await kms.invoke('ListGrants', { KeyId: keyId }, root)) as { Grants: unknown[] }).Grants
        .length;
    assert.deepEqual([await grants(a), await grants(b)], [1, 0]);
  } finally {
    await keys.close();
    await engine.close();
    await env.dispose();
    dataDir.remove();
  }
});

test('UpdateLedger crossing DeleteLedger leaves nothing', async () => {
  const env = await kmsFixture(backend);
  const dataDir = tempDir('vellum-update-delete-');
  const { keys, engine, call } = await openLedgerServices(env, dataDir.path);
  const { kms, root } = env;
  const grantsOn = (keyId: string) => grantCount(env, keyId);
  try {
    const a = (await kms.createKey({ Policy: policy(false) }, root)).KeyMetadata.KeyId;
    const b = (await kms.createKey({ Policy: policy(false) }, root)).KeyMetadata.KeyId;
    for (let round = 0; round < 5; round++) {
      await call('CreateLedger', '', {
        Name: 'crossed',
        PermissionsMode: 'ALLOW_ALL',
        KmsKey: a,
        DeletionProtection: false,
      });
      await Promise.allSettled([
        call('UpdateLedger', 'crossed', { KmsKey: b }),
        call('DeleteLedger', 'crossed'),
      ]);
      await keys.checkAll();
      await keys.close();
      assert.equal(await env.store().getState(LEDGER_KEY_NAMESPACE, 'crossed'), undefined);
      assert.deepEqual([await grantsOn(a), await grantsOn(b)], [0, 0], `round ${round}`);
      assert.deepEqual(await engine.listLedgers(), []);
    }
  } finally {
    await keys.close();
    await engine.close();
    await env.dispose();
    dataDir.remove();
  }
});

test('CreateLedger across servers: second waits', async () => {
  const env = await kmsFixture(backend);
  const dataDir = tempDir('vellum-two-creators-');
  const { keys, engine, call } = await openLedgerServices(env, dataDir.path);
  // A second key service on the same store plays the part of a second server.
  const other = newKeyService(env);
  const { kms, root } = env;
  const grantsOn = (keyId: string) => grantCount(env, keyId);
  try {
    await other.start(engine);
    const a = (await kms.createKey({ Policy: policy(false) }, root)).KeyMetadata.KeyId;
    const b = (await kms.createKey({ Policy: policy(false) }, root)).KeyMetadata.KeyId;
    // The other server stored its configuration and is about to create the ledger.
    await other.prepareLedger('shared', b, root);
    await assert.rejects(
      call('CreateLedger', '', { Name: 'shared', PermissionsMode: 'ALLOW_ALL', KmsKey: a }),
      (error) => {
        assert.ok(error instanceof ServiceError);
        assert.equal(error.code, 'ResourceInUseException');
        assert.match(error.message, /^Ledger shared is being created by another request/);
        return true;
      },
    );
    assert.deepEqual([await grantsOn(a), await grantsOn(b)], [0, 1]);

    // A configuration left by a creation that stopped midway a while ago is replaced.
    const stored = await env.store().getState(LEDGER_KEY_NAMESPACE, 'shared');
    const leftover = { ...JSON.parse(Buffer.from(stored!.value).toString()), preparedAt: 0 };
    await env
      .store()
      .putState(
        LEDGER_KEY_NAMESPACE,
        'shared',
        Buffer.from(JSON.stringify(leftover)),
        stored!.version,
      );
    const created = await call('CreateLedger', '', {
      Name: 'shared',
      PermissionsMode: 'ALLOW_ALL',
      KmsKey: a,
    });
    assert.equal(created.KmsKeyArn, `arn:aws:kms:${REGION}:${ACCOUNT}:key/${a}`);
    assert.equal(wrappingKeyId((await engine.ledgerKeyRecord('shared')).wrappedKey), a);
    assert.deepEqual([await grantsOn(a), await grantsOn(b)], [1, 0]);
  } finally {
    await other.close();
    await keys.close();
    await engine.close();
    await env.dispose();
    dataDir.remove();
  }
});
