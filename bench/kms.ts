// In-process KMS throughput through `handle()`, as the HTTP layer calls it:
// Decrypt and GenerateDataKey per second with 32 concurrent callers for
// BENCH_SECONDS each, against a SQLite store. The caller is an assumed-role
// session allowed by the key policy (not root), so every call evaluates the
// key policy, the role's identity policies and the grants. Baseline: the
// same AES-256-GCM work (one encryption with a fresh pooled nonce, or one
// decryption, of a 32-byte data key with a 16-byte context) without the
// service around it.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { pooledRandomBytes } from '../src/engine/random.js';
import { IdentityService } from '../src/services/iam/identity.js';
import { KmsService } from '../src/services/kms/kms-service.js';
import type { RequestContext } from '../src/services/types.js';
import { SqliteStore } from '../src/storage/sqlite/sqlite-store.js';
import { benchDir, printTable, record } from './util.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = 32;
const ACCOUNT = '111122223333';

async function measure(seconds: number, call: () => Promise<unknown>): Promise<number> {
  let calls = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const worker = async () => {
    while (performance.now() < deadline) {
      await call();
      calls += 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return calls / ((performance.now() - started) / 1000);
}

function rawAesRates(seconds: number): { encrypt: number; decrypt: number } {
  const key = randomBytes(32);
  const plaintext = randomBytes(32);
  const aad = randomBytes(60);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();

  const loop = (step: () => void) => {
    let count = 0;
    const started = performance.now();
    while (performance.now() - started < (seconds * 1000) / 2) {
      for (let i = 0; i < 100; i++) step();
      count += 100;
    }
    return count / ((performance.now() - started) / 1000);
  };
  return {
    encrypt: loop(() => {
      const c = createCipheriv('aes-256-gcm', key, pooledRandomBytes(12)).setAAD(aad);
      Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
    }),
    decrypt: loop(() => {
      const d = createDecipheriv('aes-256-gcm', key, iv).setAAD(aad);
      d.setAuthTag(tag);
      Buffer.concat([d.update(body), d.final()]);
    }),
  };
}

async function main(): Promise<void> {
  const dir = benchDir();
  const store = SqliteStore.open({ path: `${dir.path}/store.db` });
  const identity = await IdentityService.open({ store, accountId: ACCOUNT, dataDir: dir.path });
  const kms = await KmsService.open({ store, identity, dataDir: dir.path, scheduleInterval: 0 });

  const trust = JSON.stringify({
    Statement: { Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: 'sts:AssumeRole' },
  });
  const role = await identity.createRole({
    roleName: 'ledger-app',
    assumeRolePolicyDocument: trust,
  });
  await identity.putRolePolicy(
    'ledger-app',
    'qldb',
    JSON.stringify({ Statement: { Effect: 'Allow', Action: 'qldb:*', Resource: '*' } }),
  );
  const root: RequestContext = {
    principal: identity.rootPrincipal('AKIAROOT'),
    requestId: 'bench',
    region: 'us-east-1',
  };
  const policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
      {
        Effect: 'Allow',
        Principal: { AWS: role.arn },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: '*',
      },
    ],
  });
  const keyId = (await kms.createKey({ Policy: policy }, root)).KeyMetadata.KeyId;
  const caller: RequestContext = {
    principal: {
      accountId: ACCOUNT,
      arn: `arn:aws:sts::${ACCOUNT}:assumed-role/ledger-app/bench`,
      roleArn: role.arn,
      userId: `${role.id}:bench`,
      accessKeyId: 'ASIABENCH',
    },
    requestId: 'bench',
    region: 'us-east-1',
  };
  const context = { ledger: 'bench-ledger' };
  const sample = await kms.handle(
    'GenerateDataKey',
    { KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context },
    caller,
  );
  const decryptInput = { CiphertextBlob: sample.CiphertextBlob, EncryptionContext: context };
  const generateInput = { KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context };

  await measure(0.5, () => kms.handle('Decrypt', decryptInput, caller));
  const decrypt = await measure(SECONDS, () => kms.handle('Decrypt', decryptInput, caller));
  const generate = await measure(SECONDS, () =>
    kms.handle('GenerateDataKey', generateInput, caller),
  );
  const raw = rawAesRates(SECONDS);
  kms.close();
  await store.close();
  dir.remove();

  const rows = [
    {
      operation: 'Decrypt',
      'calls/s': Math.round(decrypt),
      'raw AES-GCM/s': Math.round(raw.decrypt),
      'share of raw': `${Math.round((100 * decrypt) / raw.decrypt)}%`,
    },
    {
      operation: 'GenerateDataKey',
      'calls/s': Math.round(generate),
      'raw AES-GCM/s': Math.round(raw.encrypt),
      'share of raw': `${Math.round((100 * generate) / raw.encrypt)}%`,
    },
  ];
  printTable(
    `KMS in-process through handle(), ${CONCURRENCY} concurrent callers, ${SECONDS} s each`,
    rows,
  );
  record('kms', rows);
}

await main();
