import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { Engine } from '../engine/index.js';
import { createServer, type VellumServer } from '../server/index.js';
import { IamQueryService, StsQueryService } from '../services/iam/iam-query.js';
import { IdentityService } from '../services/iam/identity.js';
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
  const engine = await Engine.open({ dataDir });
  let kms: KmsService | undefined;
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

    const server = createServer({
      credentials: identity,
      region: options.region,
      logger,
      onClose: async () => {
        kms?.close();
        await engine.close();
        logger.info({ dataDir }, 'engine and store closed');
      },
    });
    server.registerJsonService({
      targetPrefix: 'TrentService',
      signingName: 'kms',
      jsonVersion: '1.1',
      name: 'kms',
      service: kms,
    });
    server.registerQueryService({
      signingName: 'iam',
      xmlNamespace: IAM_NAMESPACE,
      service: new IamQueryService(identity),
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
    kms?.close();
    await engine.close();
    throw error;
  }
}

/** `vellum serve`: start, print how to connect, and stop cleanly on SIGTERM or SIGINT. */
export async function runServe(options: ServeOptions): Promise<void> {
  const running = await startVellum(options);
  const logger = running.server.logger;
  process.stdout.write(usageText(running));

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
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
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
