import { Command, InvalidArgumentError } from 'commander';
import { runDemo } from './demo.js';
import { runVerify } from './verify.js';

const program = new Command();

program
  .name('vellum')
  .description('Vellum, a verifiable ledger database with documents encrypted at rest')
  .version('0.1.0');

program
  .command('demo')
  .description('Run the reference workload on an embedded ledger and verify its journal')
  .option(
    '--data-dir <dir>',
    'data directory to use and keep (default: a new temporary directory, removed afterwards)',
  )
  .option('--records <count>', 'records to create and read back', parseCount, 1500)
  .option('--writers <count>', 'concurrent writers', parseCount, 10)
  .action(async (options: { dataDir?: string; records: number; writers: number }) => {
    await runDemo(options);
  });

program
  .command('verify')
  .description(
    'Verify ledger journals with the standalone verifier: block hashes, the hash chain, the digest and the block tree. ' +
      'Exits 0 when all verify, 1 when one fails, 2 when nothing could be checked',
  )
  .option('--ledger <name>', 'ledger to verify (default: every ledger in the data directory)')
  .option('--data-dir <dir>', 'data directory', './.vellum')
  .action(async (options: { ledger?: string; dataDir: string }) => {
    process.exitCode = await runVerify(options);
  });

function parseCount(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(`expected a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

await program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`vellum: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
