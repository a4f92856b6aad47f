import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Find the directory with Debian's `initdb` and `pg_ctl`; undefined when PostgreSQL is not installed. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const dir = join(root, version, 'bin');
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  return undefined;
}

/** A PostgreSQL server of a test's own, in a temporary directory, on 127.0.0.1 and a Unix socket there. */
export interface Cluster {
  url: string;
  /** `pg_ctl restart` in fast mode: connections are closed and the server starts again. */
  restart(): Promise<void>;
  /**
   * Stop the server. In fast mode it first ends each session with an error.
   * In immediate mode it quits at once, so the next start recovers from the log.
   */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** Stop the server and remove its directory. */
  remove(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Create and start a throwaway cluster. Runs the server as the `postgres`
 * user when the tests run as root, since PostgreSQL refuses to run as root.
 */
export async function startCluster(bin: string): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'vellum-pg-'));
  chmodSync(dir, 0o755);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const ids = execFileSync('id', ['-u', 'postgres']).toString().trim();
    const group = execFileSync('id', ['-g', 'postgres']).toString().trim();
    chownSync(dir, Number(ids), Number(group));
  }
  // Asynchronous, so that the test's load keeps running while the server restarts.
  const run = async (command: string, args: string[]) => {
    const [file, argv] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', join(bin, command), ...args]]
      : [join(bin, command), args];
    await promisify(execFile)(file, argv, { encoding: 'utf8' });
  };

  const port = await freePort();
  const data = join(dir, 'data');
  await run('initdb', [
    `--pgdata=${data}`,
    '--username=vellum',
    '--auth=trust',
    '--encoding=UTF8',
    '--no-instructions',
  ]);
  const options = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir}`;
  const ctl = (action: string, ...extra: string[]) =>
    run('pg_ctl', [
      action,
      `--pgdata=${data}`,
      '--wait',
      `--log=${join(dir, 'server.log')}`,
      `--options=${options}`,
      ...extra,
    ]);
  await ctl('start');
  return {
    url: `postgres://vellum@127.0.0.1:${port}/postgres`,
    restart: () => ctl('restart', '--mode=fast'),
    stop: (mode = 'fast') => ctl('stop', `--mode=${mode}`),
    start: () => ctl('start'),
    remove: async () => {
      await ctl('stop', '--mode=immediate').catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
