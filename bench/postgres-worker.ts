// The second engine process of the PostgreSQL benchmarks. It opens an engine
// on the given database and prints "ready". Then it reads a deadline (ms since
// the epoch) from standard input, runs the insert or read loop until then, and
// prints "count N".
// Arguments: <insert|read|read-once> <url> <data dir> <concurrency> <first id | documents>.
// `read-once` reads every document once, ignoring the deadline.
import { text } from 'node:stream/consumers';
import { insertLoop, openEngine, readLoop } from './postgres-common.js';

const [mode, url, dataDir, concurrency, extra] = process.argv.slice(2);
const engine = await openEngine(url!, dataDir!);
const ledger = await engine.ledger('bench');
// The warm read pass measures cached reads, so every key is read once first.
if (mode === 'read') await readLoop(ledger, Number(concurrency), Number(extra), 0, true);
process.stdout.write('ready\n');
const deadline = Number((await text(process.stdin)).trim());
const count =
  mode === 'insert'
    ? await insertLoop(ledger, Number(concurrency), Number(extra), deadline)
    : await readLoop(ledger, Number(concurrency), Number(extra), deadline, mode === 'read-once');
process.stdout.write(`count ${count}\n`);
await engine.close();
