import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Backend } from '../../../helpers/backends.js';
import { tempDir } from '../../../helpers/backends.js';
import { IdentityService } from '../../../../src/services/iam/identity.js';
import { KmsService, type KmsOptions } from '../../../../src/services/kms/kms-service.js';
import {
  ServiceError,
  type Principal,
  type RequestContext,
} from '../../../../src/services/types.js';

export const ACCOUNT = '111122223333';
export const REGION = 'eu-west-2';
export const DAY = 1000;

/** Open a KMS and identity service over a fresh store, with a clock that tests move by hand. */
export async function kmsFixture(backend: Backend, options: Partial<KmsOptions> = {}) {
  const opened = await backend.create();
  const dir = tempDir('vellum-kms-');
  const rootKey = randomBytes(32);
  let now = 1_800_000_000_000;
  const clock = () => now;

  const openAll = async (store = opened.store) => {
    const identity = await IdentityService.open({ store, accountId: ACCOUNT, rootKey, now: clock });
    const kms = await KmsService.open({
      store,
      identity,
      dataDir: dir.path,
      now: clock,
      kmsDayLength: DAY,
      scheduleInterval: 0,
      ...options,
    });
    return { identity, kms };
  };
  let services = await openAll();
  let currentStore = opened.store;
  const root = identityContext(services.identity.rootPrincipal('AKIAROOT'));

  return {
    get kms() {
      return services.kms;
    },
    get identity() {
      return services.identity;
    },
    root,
    dir: dir.path,
    store: () => currentStore,
    advance(ms: number) {
      now += ms;
    },
    now: clock,
    async restart() {
      services.kms.close();
      currentStore = await opened.reopen();
      services = await openAll(currentStore);
    },
    async dispose() {
      services.kms.close();
      await opened.dispose();
      dir.remove();
    },
  };
}

export function identityContext(principal: Principal, viaService?: string): RequestContext {
  const context: RequestContext = { principal, requestId: 'req-test', region: REGION };
  if (viaService) context.viaService = viaService;
  return context;
}

/** Assert that a promise rejects with a ServiceError of `code` and, when given, a matching message. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  message?: RegExp | string,
  status = 400,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ServiceError, `expected ServiceError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.status, status);
    if (typeof message === 'string') assert.equal(error.message, message);
    else if (message) assert.match(error.message, message);
    return true;
  });
}

export function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}
