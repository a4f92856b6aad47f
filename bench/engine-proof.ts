// Digest plus proof for one revision in a ledger of BENCH_BLOCKS blocks
// (default 1,000,000): the time of `digest()` followed by `getRevision` with
// its proof for a random revision, and separately the standalone verifier's
// check of that proof.
import { dom } from 'ion-js';
import { Engine } from '../src/engine/index.js';
import { verifyRevision } from '../src/verifier/index.js';
import { benchDir, printTable, record } from './util.js';

const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 1_000_000);
const WRITERS = 64;
const SAMPLES = 1_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function main(): Promise<void> {
  const dir = benchDir();
  const engine = await Engine.open({ dataDir: dir.path });
  await engine.createLedger('bench');
  const ledger = await engine.ledger('bench');
  await ledger.run(async (t) => {
    t.createTable('Event');
  });

  const started = performance.now();
  const written: Array<{ seq: number; docId: string }> = [];
  let next = ledger.tipSeq + 1;
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (next < BLOCKS) {
        next += 1;
        const tx = ledger.begin();
        const docId = await tx.insert('Event', dom.Value.from({ n: next }));
        const { blockAddress } = await tx.commit();
        if (written.length < 100_000 || Math.random() < 0.01)
          written.push({ seq: blockAddress!.sequenceNo, docId });
      }
    }),
  );
  const buildSeconds = (performance.now() - started) / 1000;
  process.stdout.write(`built ${ledger.tipSeq + 1} blocks in ${buildSeconds.toFixed(0)} s\n`);

  const proofMs: number[] = [];
  const verifyMs: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const target = written[Math.floor(Math.random() * written.length)]!;
    const t0 = performance.now();
    const { digest, tipAddress } = await ledger.digest();
    const { revision, proof } = await ledger.getRevision(
      target.seq,
      target.docId,
      tipAddress.sequenceNo,
    );
    const t1 = performance.now();
    verifyRevision({ revision, proof: proof!, digest, tipAddress });
    const t2 = performance.now();
    proofMs.push(t1 - t0);
    verifyMs.push(t2 - t1);
  }
  await engine.close();
  dir.remove();

  proofMs.sort((a, b) => a - b);
  verifyMs.sort((a, b) => a - b);
  const rows = [
    {
      blocks: BLOCKS,
      'digest + proof, median ms': percentile(proofMs, 0.5).toFixed(3),
      'digest + proof, p99 ms': percentile(proofMs, 0.99).toFixed(3),
      'verify, median ms': percentile(verifyMs, 0.5).toFixed(3),
    },
  ];
  printTable('Digest and revision proof', rows);
  record('engine-proof', rows);
}

await main();
