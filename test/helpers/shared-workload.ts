import { load, type dom } from 'ion-js';
import { OccConflictError, type Ledger } from '../../src/engine/index.js';

const ion = (text: string): dom.Value => load(text)!;

export interface WorkloadResult {
  increments: number;
  inserts: number;
  /** Transaction attempts that ended in an OCC conflict and were retried. */
  conflicts: number;
}

/**
 * Run `increments` counter increments and as many inserts into `Item` on
 * `clients` concurrent callers. Each increment reads the counter document
 * through its index and writes it back plus one, so a lost update shows as
 * a wrong final count.
 */
export async function runWorkload(
  ledger: Ledger,
  label: string,
  increments: number,
  clients: number,
): Promise<WorkloadResult> {
  const result: WorkloadResult = { increments: 0, inserts: 0, conflicts: 0 };
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < increments) {
        const i = next++;
        for (let attempt = 0; ; attempt++) {
          const t = ledger.begin();
          try {
            const [counter] = await t.lookup('Counter', 'name', ion('"c"'));
            const n = counter!.data!.get('n')!.numberValue()!;
            await t.update('Counter', counter!.id, ion(`{name: "c", n: ${n + 1}}`));
            await t.commit();
            break;
          } catch (error) {
            t.abort();
            if (!(error instanceof OccConflictError) || attempt >= 1_000) throw error;
            result.conflicts += 1;
          }
        }
        result.increments += 1;
        await ledger.run((t) => t.insert('Item', ion(`{writer: "${label}", i: ${i}}`)));
        result.inserts += 1;
      }
    }),
  );
  return result;
}
