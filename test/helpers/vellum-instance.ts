import { pino } from 'pino';
import { startVellum, type RunningVellum } from '../../src/cli/serve.js';
import { tempDir } from './backends.js';

export interface VellumInstance extends RunningVellum {
  dataDir: string;
  /** Stop the server and remove the data directory. */
  dispose(): Promise<void>;
}

/** `vellum serve` in-process on 127.0.0.1 with a free port and a new data directory. */
export async function startVellumInstance(
  options: { keyCheckInterval?: number; kmsDayLength?: number } = {},
): Promise<VellumInstance> {
  const dir = tempDir('vellum-serve-');
  const running = await startVellum({
    host: '127.0.0.1',
    port: 0,
    dataDir: dir.path,
    accountId: '000000000000',
    region: 'us-east-1',
    kmsDayLength: options.kmsDayLength ?? 24 * 3_600_000,
    keyCheckInterval: options.keyCheckInterval,
    logLevel: 'silent',
    allowRemote: false,
    logger: pino({ level: 'silent' }),
  });
  return {
    ...running,
    dataDir: dir.path,
    async dispose() {
      await running.close();
      dir.remove();
    },
  };
}

/** Settings every AWS SDK client in the tests uses: the local endpoint and no retries. */
export function clientConfig(
  url: string,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
) {
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  // The SDK marks the credentials object it is given, so it gets a copy.
  return { endpoint: url, region: 'us-east-1', credentials: { ...credentials }, maxAttempts: 1 };
}
