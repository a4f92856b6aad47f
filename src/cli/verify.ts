import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DATABASE_FILE, Engine } from '../engine/engine.js';
import { verifyLedger } from './verify-ledger.js';

/** `vellum verify`: returns the process exit code. */
export async function runVerify(options: { ledger: string; dataDir: string }): Promise<number> {
  if (!existsSync(join(options.dataDir, DATABASE_FILE))) {
    process.stderr.write(
      `vellum verify: no Vellum database in ${options.dataDir}; pass --data-dir with the directory that holds ${DATABASE_FILE}\n`,
    );
    return 2;
  }
  const engine = await Engine.open({ dataDir: options.dataDir });
  try {
    const ledger = await engine.ledger(options.ledger);
    const started = performance.now();
    const result = await verifyLedger(ledger);
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(
      `ledger ${options.ledger}: ${result.blocks} blocks verified in ${seconds.toFixed(2)} s\n` +
        `digest ${Buffer.from(result.digest).toString('base64')} at sequenceNo ${result.tipAddress.sequenceNo}\n`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(
      `vellum verify: FAILED: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 1;
  } finally {
    await engine.close();
  }
}
