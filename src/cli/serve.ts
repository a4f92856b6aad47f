import { existsSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { Engine } from '../engine/index.js';
import { lockDataDir, makeDataDir } from '../engine/data-dir-lock.js';
import { openStore, withoutPassword } from '../storage/open-store.js';
import type { Store } from '../storage/store.js';
import { ROOT_KEY_CHECK, hasRootKeyCheck } from '../services/secret-box.js';
import type { KeyProvider } from '../engine/keyring/key-provider.js';
import { ROOT_KEY_FILE, loadOrCreateRootKey } from '../engine/keyring/root-key-file.js';
import { createServer, type RestRoute, type VellumServer } from '../server/index.js';
import { ControlPlaneService } from '../services/qldb/control-plane.js';
import { LedgerKeyService } from '../services/qldb/ledger-keys.js';
import { StackService } from '../services/stacks/stack-service.js';
import { SessionService, type QldbAuthorizer } from '../services/qldb/session-service.js';
import { IamQueryService, StsQueryService } from '../services/iam/iam-query.js';
import { IDENTITY_META_NAMESPACE, IdentityService } from '../services/iam/identity.js';
import { KmsService } from '../services/kms/index.js';
import { PROFILE, writeAwsProfile, type ProfilePaths } from './aws-profile.js';

export interface ServeOptions {
  host: string;
  port: number;
  dataDir: string;
  accountId: string;
  region: string;
  /** Milliseconds in a KMS day, which scales deletion windows and rotation periods. */
  kmsDayLength: number;
  /** How often the key guard checks each ledger's KMS key, in milliseconds. */
  keyCheckInterval?: number;
  /**
   * A `postgres://` URL of a store that several servers share; the SQLite
   * file in the data directory when absent. Shared servers need the same
   * `root.key` in their data directories.
   */
  store?: string;
  logLevel: string;
  allowRemote: boolean;
  /** The logger; a pino logger on stdout at `logLevel` when absent. */
  logger?: Logger;
}

/** A running `vellum serve`: its server, URL, root credentials and profile files. */
export interface RunningVellum {
  server: VellumServer;
  url: string;
  rootCredentials: { accessKeyId: string; secretAccessKey: string; created: boolean };
  profile: ProfilePaths;
  close(): Promise<void>;
}

const IAM_NAMESPACE = 'https://iam.amazonaws.com/doc/2010-05-08/';
const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';
const CLOUDFORMATION_NAMESPACE = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';

/**
 * Open the data directory's engine and store, start the services on them
 * and listen. On first start this creates the root user's access key and
 * writes the AWS profile files into the data directory.
 */
export async function startVellum(options: ServeOptions): Promise<RunningVellum> {
  checkHost(options.host, options.allowRemote);
  if (!/^\d{12}$/.test(options.accountId)) {
    throw new Error(`--account-id must be 12 digits, got ${JSON.stringify(options.accountId)}`);
  }
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(options.region)) {
    throw new Error(
      `--region must be an AWS region name such as us-east-1, got ${JSON.stringify(options.region)}`,
    );
  }

  const logger = options.logger ?? pino({ level: options.logLevel });
  const dataDir = resolve(options.dataDir);
  // The engine needs the key provider before the KMS exists, since both live
  // on the engine's store; the provider forwards once the key service is up.
  let ledgerKeys: LedgerKeyService | undefined;
  const keys = (): KeyProvider => {
    if (ledgerKeys === undefined) throw new Error('ledger keys are not ready yet');
    return ledgerKeys.keyProvider;
  };
  const keyProvider: KeyProvider = {
    wrap: (id, dataKey, name) => keys().wrap(id, dataKey, name),
    unwrap: (id, wrapped, name) => keys().unwrap(id, wrapped, name),
    generate: (id, name) => keys().generate!(id, name),
  };
  // A first start that fails (a port in use, say) removes the data directory
  // it made, so the next start is a first start again. Not with a shared
  // store: that store may already hold records under this root key.
  const storeUrl = options.store ?? process.env.VELLUM_STORE;
  const removeOnFailure = storeUrl === undefined && !existsSync(dataDir);
  // The root key goes into the data directory, so make it first, private to its owner.
  makeDataDir(dataDir);
  // With its own SQLite store the engine locks the data directory. Servers
  // that share a store each still need a directory of their own, for the
  // profile files that name this server's address.
  const unlockDataDir = storeUrl === undefined ? () => undefined : lockDataDir(dataDir);
  let store: Store | undefined;
  let rootKey: Uint8Array;
  try {
    store =
      storeUrl === undefined
        ? undefined
        : await openStore(storeUrl, { logger: logger.child({ service: 'store' }) });
    if (store !== undefined) await requireSharedRootKey(dataDir, store, storeUrl!);
    rootKey = loadOrCreateRootKey(dataDir, true);
  } catch (error) {
    await store?.close();
    unlockDataDir();
    throw error;
  }
  const engine = await Engine.open({ dataDir, keyProvider, store });
  let kms: KmsService | undefined;
  let sessions: SessionService | undefined;
  let stacks: StackService | undefined;
  try {
    const identity = await IdentityService.open({
      store: engine.store,
      accountId: options.accountId,
      dataDir,
    });
    const rootCredentials = await identity.ensureRoot();
    kms = await KmsService.open({
      store: engine.store,
      identity,
      dataDir,
      kmsDayLength: options.kmsDayLength,
      logger: logger.child({ service: 'kms' }),
    });

    ledgerKeys = new LedgerKeyService({
      store: engine.store,
      kms,
      identity,
      rootKey,
      accountId: options.accountId,
      region: options.region,
      checkIntervalMs: options.keyCheckInterval ?? 10_000,
      logger: logger.child({ service: 'key-guard' }),
    });
    await ledgerKeys.start(engine);
    const authorizer: QldbAuthorizer = {
      isAllowed: (principal, action, resource) =>
        identity.authorize(principal, action, resource, {
          'aws:RequestedRegion': options.region,
        }),
    };
    sessions = new SessionService({
      engine,
      accountId: options.accountId,
      region: options.region,
      authorizer,
      gate: ledgerKeys,
      // Commands arrive only once the server below listens.
      observe: (command, outcome, seconds) =>
        server.metrics.observeCommand(command, outcome, seconds),
    });
    const controlPlane = new ControlPlaneService({
      engine,
      accountId: options.accountId,
      region: options.region,
      authorizer,
      keys: ledgerKeys,
    });

    const server = createServer({
      credentials: identity,
      region: options.region,
      logger,
      // A read of one small record: it fails while the store is unreachable.
      healthCheck: async () => {
        await engine.store.getState(IDENTITY_META_NAMESPACE, ROOT_KEY_CHECK);
      },
      onClose: async () => {
        await stacks?.idle();
        sessions?.close();
        await ledgerKeys?.close();
        kms?.close();
        await engine.close();
        unlockDataDir();
        logger.info({ dataDir }, 'engine and store closed');
      },
    });
    const guard = ledgerKeys;
    const sessionService = sessions;
    server.metrics.watch({
      openSessions: () => sessionService.openSessions,
      encryptionStatuses: () => guard.encryptionStatuses(),
    });
    server.registerJsonService({
      targetPrefix: 'TrentService',
      signingName: 'kms',
      jsonVersion: '1.1',
      name: 'kms',
      unavailableCode: 'DependencyTimeoutException',
      service: kms,
    });
    server.registerJsonService({
      targetPrefix: 'QLDBSession',
      signingName: 'qldb',
      jsonVersion: '1.0',
      name: 'qldb-session',
      unavailableCode: 'CapacityExceededException',
      service: sessions,
    });
    server.registerRestService({
      name: 'qldb',
      signingName: 'qldb',
      unavailableCode: 'CapacityExceededException',
      routes: restRoutes(controlPlane),
    });
    const iamQuery = new IamQueryService(identity);
    server.registerQueryService({
      signingName: 'iam',
      xmlNamespace: IAM_NAMESPACE,
      service: iamQuery,
    });
    stacks = new StackService({
      store: engine.store,
      iam: iamQuery,
      kms,
      qldb: controlPlane,
      accountId: options.accountId,
      region: options.region,
      logger: logger.child({ service: 'cloudformation' }),
    });
    server.registerQueryService({
      signingName: 'cloudformation',
      xmlNamespace: CLOUDFORMATION_NAMESPACE,
      service: stacks,
    });
    server.registerQueryService({
      signingName: 'sts',
      xmlNamespace: STS_NAMESPACE,
      service: new StsQueryService(identity),
    });

    const url = await listenOrExplain(server, options.host, options.port);
    const profile = writeAwsProfile(dataDir, {
      accessKeyId: rootCredentials.accessKeyId,
      secretAccessKey: rootCredentials.secretAccessKey,
      region: options.region,
      endpointUrl: url,
    });
    logger.info(
      { url, dataDir, accountId: options.accountId, region: options.region },
      'vellum serve started',
    );
    return { server, url, rootCredentials, profile, close: () => server.close() };
  } catch (error) {
    sessions?.close();
    await ledgerKeys?.close();
    kms?.close();
    await engine.close();
    unlockDataDir();
    if (removeOnFailure) rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Refuse to make a new root key for a shared store that other servers have
 * sealed their state in already: a new key could open none of it.
 */
async function requireSharedRootKey(dataDir: string, store: Store, storeUrl: string) {
  const path = join(dataDir, ROOT_KEY_FILE);
  if (existsSync(path) || !(await hasRootKeyCheck(store, IDENTITY_META_NAMESPACE))) return;
  throw new Error(
    `root key file ${path} is missing, and the store ${withoutPassword(storeUrl)} already ` +
      'holds state sealed under the root key of the servers that use it. Copy root.key from ' +
      'the data directory of one of those servers into this one (mode 0600), then start again',
  );
}

/** Convert the control plane's routes to the server's REST form. */
function restRoutes(controlPlane: ControlPlaneService): RestRoute[] {
  return controlPlane.routes().map((route) => ({
    method: route.method,
    path: route.path.replace(/:(\w+)/g, '{$1}'),
    operation: route.operation,
    handle: async (request, context) => {
      const query: Record<string, string | string[]> = {};
      for (const name of new Set(request.query.keys())) {
        const values = request.query.getAll(name);
        query[name] = values.length === 1 ? values[0]! : values;
      }
      const body = await route.handle(
        { params: request.params, query, body: request.body },
        context,
      );
      return { body };
    },
  }));
}

/** `vellum serve`: start, print how to connect, and stop cleanly on SIGTERM or SIGINT. */
export async function runServe(options: ServeOptions): Promise<void> {
  const running = await startVellum(options);
  const logger = running.server.logger;
  process.stderr.write(usageText(running));

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second stop signal received; exiting without waiting');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping: finishing requests in flight');
    running.close().then(
      () => {
        logger.info('vellum serve stopped');
        process.exitCode = 0;
      },
      (error: unknown) => {
        logger.error({ err: error }, 'vellum serve failed to stop cleanly');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function usageText(running: RunningVellum): string {
  const created = running.rootCredentials.created ? 'created' : 'reused';
  return (
    `Vellum is listening on ${running.url}\n` +
    `Root credentials ${created}: profile '${PROFILE}' in ${running.profile.credentialsFile}\n` +
    `Use them with the AWS CLI and SDKs:\n` +
    `  export AWS_SHARED_CREDENTIALS_FILE=${running.profile.credentialsFile}\n` +
    `  export AWS_CONFIG_FILE=${running.profile.configFile}\n` +
    `  export AWS_PROFILE=${PROFILE}\n` +
    `  aws --endpoint-url ${running.url} sts get-caller-identity\n` +
    `The config file sets endpoint_url for the SDKs and AWS CLI 2.13 or later; ` +
    `older CLIs need --endpoint-url.\n`
  );
}

/** Listen, turning a busy port or a foreign address into a message naming the option to change. */
async function listenOrExplain(server: VellumServer, host: string, port: number): Promise<string> {
  try {
    return await server.listen({ host, port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new Error(
        `port ${port} on ${host} is already in use; stop the process using it or pass another --port`,
        { cause: error },
      );
    }
    if (code === 'EADDRNOTAVAIL') {
      throw new Error(`${host} is not an address of this machine; pass another --host`, {
        cause: error,
      });
    }
    throw error;
  }
}

/** Accept loopback hosts only, unless remote access was requested. */
function checkHost(host: string, allowRemote: boolean): void {
  if (allowRemote || isLoopback(host)) return;
  throw new Error(
    `--host ${host} is not a loopback address, so other machines could reach ` +
      `the endpoint and its root credentials would guard every ledger and key. ` +
      `Use --host 127.0.0.1, or pass --allow-remote once the network is protected.`,
  );
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const version = isIP(host);
  if (version === 4) return host.startsWith('127.');
  if (version === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}
