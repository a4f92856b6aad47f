// A second Vellum process for the shared-store tests: opens an engine on a
// PostgreSQL store and runs the shared workload on one ledger, then prints
// its counts as one JSON line.
// Arguments: <postgres url> <data dir with the root key> <ledger> <increments> <clients>.
import { Engine, PostgresStore } from '../../src/engine/index.js';
import { runWorkload } from './shared-workload.js';

const [url, dataDir, ledgerName, increments, clients] = process.argv.slice(2);
const store = await PostgresStore.open({ url: url!, poolSize: 4 });
const engine = await Engine.open({ dataDir: dataDir!, store, createRootKey: false });
try {
  const ledger = await engine.ledger(ledgerName!);
  const result = await runWorkload(ledger, 'child', Number(increments), Number(clients));
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await engine.close();
}
