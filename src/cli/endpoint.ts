import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadSharedConfigFiles } from '@smithy/shared-ini-file-loader';

/** The address `vellum serve` listens on by default. */
export const DEFAULT_ENDPOINT = 'http://127.0.0.1:8600';

/** The region `vellum serve` serves by default. */
export const DEFAULT_REGION = 'us-east-1';

/** How to give a command the credentials `vellum serve` wrote. */
export const PROFILE_FIX =
  'vellum serve writes its root credentials as profile vellum into its data directory; export ' +
  'AWS_SHARED_CREDENTIALS_FILE=<data-dir>/credentials AWS_CONFIG_FILE=<data-dir>/config AWS_PROFILE=vellum, ' +
  'as it prints at start, or run the command in the folder that holds .vellum';

/** Static credentials, as the SDKs' providers return them. */
export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * Without AWS credentials in the environment, use the profile that
 * `vellum serve` wrote into its data directory, when there is one.
 */
export function useServeProfile(dataDir: string): void {
  const credentials = join(resolve(dataDir), 'credentials');
  if (
    (process.env.AWS_ACCESS_KEY_ID ?? '') === '' &&
    process.env.AWS_SHARED_CREDENTIALS_FILE === undefined &&
    existsSync(credentials)
  ) {
    process.env.AWS_SHARED_CREDENTIALS_FILE = credentials;
    process.env.AWS_CONFIG_FILE = join(resolve(dataDir), 'config');
    process.env.AWS_PROFILE ??= 'vellum';
  }
}

/**
 * Return the endpoint the AWS configuration sets for QLDB, in the SDKs'
 * order: `AWS_ENDPOINT_URL_QLDB`, `AWS_ENDPOINT_URL`, `qldb`'s `endpoint_url`
 * in the profile's `services` section, then the profile's `endpoint_url`.
 * Returns undefined when configured endpoints are switched off.
 */
export async function profileEndpoint(): Promise<string | undefined> {
  const { configFile, credentialsFile } = await loadSharedConfigFiles({ ignoreCache: true });
  // An empty AWS_PROFILE means the default profile, as in the SDKs.
  const name = process.env.AWS_PROFILE || 'default';
  const profile = { ...credentialsFile[name], ...configFile[name] };
  // The environment's setting wins over the profile's. Only "true" and "false" count.
  const ignoreFlag = process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
  const ignore =
    ignoreFlag === 'true' || ignoreFlag === 'false'
      ? ignoreFlag === 'true'
      : profile.ignore_configured_endpoint_urls === 'true';
  if (ignore) return undefined;
  const fromEnv = process.env.AWS_ENDPOINT_URL_QLDB || process.env.AWS_ENDPOINT_URL;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (profile.services) {
    // A services section that is missing leaves no configured endpoint at all.
    const section = configFile[`services.${profile.services}`];
    if (section === undefined) return undefined;
    const forQldb = section['qldb.endpoint_url'];
    if (forQldb) return forQldb;
  }
  return profile.endpoint_url || undefined;
}

/**
 * Return the endpoint a command talks to: `--endpoint`, else the AWS
 * configuration's (see {@link profileEndpoint}), else {@link DEFAULT_ENDPOINT}.
 * Throws when it is not an http or https URL.
 */
async function resolveEndpoint(option: string | undefined): Promise<string> {
  const configured = option ?? (await profileEndpoint());
  const text = configured ?? DEFAULT_ENDPOINT;
  const source = option !== undefined ? '--endpoint' : `endpoint_url of ${credentialSource()}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(
      `${source} ${JSON.stringify(text)} is not a URL; give the scheme too, such as ${DEFAULT_ENDPOINT}`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`${source} must be an http or https URL, got ${text}`);
  }
  return text;
}

/** Return the region: `--region`, else the AWS configuration's, else {@link DEFAULT_REGION}. */
export async function resolveRegion(
  option: string | undefined,
  configured: () => Promise<string>,
): Promise<string> {
  if (option !== undefined) return option;
  return configured().catch(() => DEFAULT_REGION);
}

/** Describe where the SDK looks for credentials, for error messages. */
export function credentialSource(): string {
  // The SDKs take keys from the environment only when both are set.
  if (!accessKeyWithoutSecret() && (process.env.AWS_ACCESS_KEY_ID ?? '') !== '') {
    return 'AWS_ACCESS_KEY_ID in the environment';
  }
  const profile = process.env.AWS_PROFILE || 'default';
  const file = process.env.AWS_SHARED_CREDENTIALS_FILE ?? join(homedir(), '.aws', 'credentials');
  return `profile ${profile} in ${file}${existsSync(file) ? '' : ' (no such file)'}`;
}

/** Return whether the environment sets an access key id without its secret key. */
function accessKeyWithoutSecret(): boolean {
  return (
    (process.env.AWS_ACCESS_KEY_ID ?? '') !== '' && (process.env.AWS_SECRET_ACCESS_KEY ?? '') === ''
  );
}

/** Load credentials through an SDK client's chain, or fail naming where it looked and the fix. */
export async function requireCredentials(
  provider: () => Promise<Credentials>,
  url: string,
  moreFix = '',
): Promise<Credentials> {
  try {
    return await provider();
  } catch (error) {
    if (accessKeyWithoutSecret()) {
      throw new Error(
        `no AWS credentials for ${url}: AWS_ACCESS_KEY_ID is set in the environment but ` +
          `AWS_SECRET_ACCESS_KEY is not; set both, or unset AWS_ACCESS_KEY_ID to use a profile ` +
          `(${(error as Error).message}). ${PROFILE_FIX}${moreFix}`,
        { cause: error },
      );
    }
    throw new Error(
      `no AWS credentials for ${url}: the SDK found none in the environment (AWS_ACCESS_KEY_ID) ` +
        `or in ${credentialSource()} (${(error as Error).message}). ${PROFILE_FIX}${moreFix}`,
      { cause: error },
    );
  }
}

/** The configuration providers of an AWS SDK client, enough to read its region and credentials. */
export interface SdkClientProbe {
  config: { region: () => Promise<string>; credentials: () => Promise<Credentials> };
  destroy(): void;
}

/**
 * Resolve where and as whom a command calls Vellum: the profile fallback of
 * `dataDir`, then {@link resolveEndpoint}, {@link resolveRegion} and
 * {@link requireCredentials}. `probe` makes an SDK client for the endpoint,
 * whose providers read the AWS configuration as every SDK does.
 */
export async function resolveConnection(
  options: { endpoint?: string; region?: string; dataDir?: string },
  probe: (url: string) => SdkClientProbe,
): Promise<{ url: string; region: string; credentials: Credentials }> {
  if (options.dataDir !== undefined) useServeProfile(options.dataDir);
  process.env.AWS_EC2_METADATA_DISABLED ??= 'true';
  const url = await resolveEndpoint(options.endpoint);
  const client = probe(url);
  try {
    const region = await resolveRegion(options.region, () => client.config.region());
    const credentials = await requireCredentials(
      () => client.config.credentials(),
      url,
      ', or pass --data-dir with the data directory of vellum serve',
    );
    return { url, region, credentials };
  } finally {
    client.destroy();
  }
}

/**
 * Explain why a call to Vellum at `url` failed when the cause is the
 * connection, the credentials or the region, naming the value at fault and
 * the fix. Returns undefined for any other error, which the caller reports
 * as it is.
 */
export function explainAccessError(
  error: Error & { code?: string },
  url: string,
  accessKey: string,
  region: string,
): Error | undefined {
  const network = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EHOSTUNREACH'];
  const code = error.code ?? (error.cause as { code?: string } | undefined)?.code;
  if (code !== undefined && network.includes(code)) {
    return new Error(
      `cannot reach Vellum at ${url} (${code}): start it with vellum serve, ` +
        `or pass the --endpoint it printed ("Vellum is listening on ...")`,
      { cause: error },
    );
  }
  // A TLS handshake that got a plain HTTP response, because vellum serve speaks HTTP only.
  if (
    url.startsWith('https:') &&
    code !== undefined &&
    (code === 'EPROTO' || code.startsWith('ERR_SSL_'))
  ) {
    return new Error(
      `Vellum at ${url} did not respond over TLS (${code}): vellum serve listens on plain HTTP, ` +
        `so use ${url.replace(/^https:/, 'http:')}, the address it printed ("Vellum is listening on ...")`,
      { cause: error },
    );
  }
  if (error.name === 'TimeoutError' || error.name === 'AbortError') {
    return new Error(
      `Vellum at ${url} did not respond in time; check that --endpoint is the address vellum serve printed`,
      { cause: error },
    );
  }
  const source = credentialSource();
  switch (error.name) {
    case 'InvalidClientTokenId':
    case 'UnrecognizedClientException':
      return new Error(
        `Vellum at ${url} rejected access key ${accessKey} from ${source}: it is not a key of that server. ` +
          PROFILE_FIX,
        { cause: error },
      );
    case 'InvalidSignatureException':
    case 'SignatureDoesNotMatch':
      if (/region/i.test(error.message)) {
        return new Error(
          `Vellum at ${url} does not serve region ${region} (${error.message}); pass --region with the server's region, or set region in the profile`,
          { cause: error },
        );
      }
      return new Error(
        `Vellum at ${url} rejected the signature of access key ${accessKey} from ${source}: ` +
          `the secret key does not match the server's. ${PROFILE_FIX}`,
        { cause: error },
      );
    case 'ExpiredToken':
    case 'ExpiredTokenException':
      return new Error(
        `Vellum at ${url} rejected access key ${accessKey} from ${source}: its session token has expired; get new credentials`,
        { cause: error },
      );
  }
  // Vellum sends a request id with every response, so a response without one came from another server.
  const metadata = (error as { $metadata?: { httpStatusCode?: number; requestId?: string } })
    .$metadata;
  if (metadata?.httpStatusCode !== undefined && metadata.requestId === undefined) {
    return notVellumError(url, metadata.httpStatusCode, error);
  }
  return undefined;
}

/**
 * Return the error for a response from `url` that has no `x-amzn-RequestId`
 * header, which Vellum sends with every response.
 */
export function notVellumError(url: string, status: number, cause?: unknown): Error {
  return new Error(
    `the server at ${url} is not Vellum: it responded with HTTP ${status} and no request id. ` +
      `Pass the address vellum serve printed ("Vellum is listening on ..."), or set endpoint_url in the profile`,
    { cause },
  );
}
