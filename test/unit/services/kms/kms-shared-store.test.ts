import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backends, sharedStoreView } from '../../../helpers/backends.js';
import { KmsService } from '../../../../src/services/kms/kms-service.js';
import type { Principal } from '../../../../src/services/types.js';
import { ACCOUNT, DAY, identityContext, kmsFixture, rejectsWith } from './kms-fixture.js';

function user(name: string, userId: string): Principal {
  return {
    accountId: ACCOUNT,
    arn: `arn:aws:iam::${ACCOUNT}:user/${name}`,
    userId,
    accessKeyId: `AKIA${name.toUpperCase()}`,
  };
}

for (const backend of backends) {
  test(
    `${backend.name}: a grant made by one server works on another at once`,
    { skip: backend.skip },
    async () => {
      const env = await kmsFixture(backend);
      // The fixture's clock does not move, so the second server's cached
      // grant lists never expire by themselves here.
      const other = await KmsService.open({
        store: sharedStoreView(env.store()),
        identity: env.identity,
        dataDir: env.dir,
        now: env.now,
        kmsDayLength: DAY,
        scheduleInterval: 0,
      });
      try {
        const { kms, root, identity } = env;
        const app = user('app', (await identity.createUser('app')).id);
        const ops = user('ops', (await identity.createUser('ops')).id);
        const key = (await kms.createKey({}, root)).KeyMetadata;
        const encrypt = () =>
          other.encrypt({ KeyId: key.KeyId, Plaintext: Buffer.from('x') }, identityContext(app));
        // The other server looks the key's grants up and caches the empty list.
        await rejectsWith(encrypt(), 'AccessDeniedException');

        const grant = () =>
          kms.handle(
            'CreateGrant',
            {
              KeyId: key.KeyId,
              GranteePrincipal: app.arn,
              RetiringPrincipal: ops.arn,
              Operations: ['Encrypt', 'Decrypt'],
              Name: `app-${Math.random().toString(36).slice(2)}`,
            },
            root,
          ) as Promise<{ GrantId: string; GrantToken: string }>;
        await grant();
        await encrypt();

        // Grants created after the other server last read the list can be
        // retired there, by id and by token.
        const [byId, byToken] = [await grant(), await grant()];
        await other.handle(
          'RetireGrant',
          { KeyId: key.KeyId, GrantId: byId.GrantId },
          identityContext(ops),
        );
        await other.handle('RetireGrant', { GrantToken: byToken.GrantToken }, identityContext(ops));
        const left = (await other.handle('ListGrants', { KeyId: key.KeyId }, root)) as {
          Grants: Array<{ GrantId: string }>;
        };
        assert.equal(left.Grants.length, 1);
        assert.ok(!left.Grants.some((g) => g.GrantId === byId.GrantId));
        assert.ok(!left.Grants.some((g) => g.GrantId === byToken.GrantId));
      } finally {
        other.close();
        await env.dispose();
      }
    },
  );
}
