import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const VELLUM_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** Debian's AWS CLI v2; an `aws` elsewhere on PATH may be an older v1. */
export const AWS_CLI = '/usr/bin/aws';

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** Start `vellum serve` as a child process and resolve once it prints its URL. */
export function startServe(dataDir: string, ...extra: string[]): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', VELLUM_MAIN, 'serve', '--port', '0', '--data-dir', dataDir, ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`vellum serve did not start:\n${output}`)),
      60_000,
    );
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const url = /Vellum is listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      if (url !== undefined) {
        clearTimeout(timer);
        resolve({ child, url, output: () => output, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`vellum serve exited with ${code}:\n${output}`));
    });
  });
}

/**
 * Start two `vellum serve` processes on one store, in the data directories
 * `a` and `b` below `parent`. The second starts with the first one's root
 * key, which seals the shared KMS keys and secrets. Pushes each server onto
 * `servers` as it starts, so that the caller's cleanup stops what did start.
 */
export async function startServerPair(
  parent: string,
  storeUrl: string,
  servers: ServeProcess[],
  ...extra: string[]
): Promise<{ first: string; second: string }> {
  const first = join(parent, 'a');
  const second = join(parent, 'b');
  servers.push(await startServe(first, '--store', storeUrl, ...extra));
  mkdirSync(second, { recursive: true, mode: 0o700 });
  copyFileSync(join(first, 'root.key'), join(second, 'root.key'));
  servers.push(await startServe(second, '--store', storeUrl, ...extra));
  return { first, second };
}

/** Stop the servers with SIGTERM and wait for each to exit. */
export async function stopServers(servers: ServeProcess[]): Promise<void> {
  for (const server of servers) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

export function readProfile(dataDir: string): { accessKeyId: string; secretAccessKey: string } {
  const text = readFileSync(join(dataDir, 'credentials'), 'utf8');
  return {
    accessKeyId: /aws_access_key_id = (\S+)/.exec(text)![1]!,
    secretAccessKey: /aws_secret_access_key = (\S+)/.exec(text)![1]!,
  };
}

/**
 * Run Debian's AWS CLI against a `vellum serve` with the profile it wrote
 * into `dataDir`, and nothing else from the environment but PATH.
 */
export function runAwsCli(
  url: string,
  dataDir: string,
  ...args: string[]
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(AWS_CLI, ['--endpoint-url', url, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH,
      HOME: dataDir,
      AWS_SHARED_CREDENTIALS_FILE: join(dataDir, 'credentials'),
      AWS_CONFIG_FILE: join(dataDir, 'config'),
      AWS_PROFILE: 'vellum',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PAGER: '',
    },
  });
  return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}
