import type { AppendLock, JournalChanges, Store } from '../../storage/store.js';

/**
 * How often a committer in its turn checks whether it has work left and
 * whether another process waits for the ledger's append lock, in milliseconds.
 */
export const CHECK_MS = 10;

/**
 * How long a busy committer keeps its turn while another process waits, in
 * milliseconds. Each turn starts with a catch-up and ends with a release
 * and a drained pipeline, so short turns waste much of their time: two busy
 * engines committed about 7% less with 50 ms turns than with 100 ms turns.
 * Other processes' commits wait up to about this long, plus the batches in flight.
 */
export const TURN_MS = 100;

/**
 * Turns at a shared store's append lock for one ledger's committer. While
 * the committer has its turn, no other process appends to the ledger, so it
 * catches up once, with changes the store reads along with the lock, and
 * then validates and appends batch after batch without racing anyone. Every
 * `CHECK_MS` the turn ends if this committer has nothing to do, or if
 * another process waits for the lock and the turn has lasted `TURN_MS`. The
 * lock of an ended turn is released once the batches in flight are durable.
 */
export class AppendTurns {
  readonly #store: Store;
  readonly #ledgerId: string;
  readonly #idle: () => boolean;
  readonly #onEnd: () => void;
  #lock: AppendLock | undefined;
  #releasing: Promise<void> | undefined;
  #ending = false;
  #timer: NodeJS.Timeout | undefined;
  /** When the current turn started, from `performance.now()`. */
  #started = 0;
  /** Set once another process was seen waiting during the current turn. */
  #waited = false;

  /**
   * `idle` returns true when the committer has no work. `onEnd` runs when a
   * turn ends and when its lock is released, so that the committer looks again.
   */
  constructor(store: Store, ledgerId: string, idle: () => boolean, onEnd: () => void) {
    this.#store = store;
    this.#ledgerId = ledgerId;
    this.#idle = idle;
    this.#onEnd = onEnd;
  }

  /** True while this committer has the lock and its turn has not ended. */
  get active(): boolean {
    return this.#lock !== undefined && !this.#ending;
  }

  get held(): boolean {
    return this.#lock !== undefined;
  }

  /**
   * Wait for the lock and start a turn. Returns what the blocks after
   * `afterSeq` changed, as `Store.changesSince` with `maxBlocks`, read once
   * the lock was held.
   */
  async begin(afterSeq: number, maxBlocks: number): Promise<JournalChanges> {
    // The store holds one lock per ledger; the last turn's must be gone first.
    await this.#releasing;
    const lock = await this.#store.lockAppends(this.#ledgerId, { afterSeq, maxBlocks });
    this.#lock = lock;
    this.#ending = false;
    this.#started = performance.now();
    this.#waited = false;
    this.#arm();
    return lock.changes ?? (await this.#store.changesSince(this.#ledgerId, afterSeq, maxBlocks));
  }

  /** Release the lock and let other writers append; errors only mean the lock went with its connection. */
  end(): void {
    const lock = this.#lock;
    if (lock === undefined) return;
    this.#lock = undefined;
    this.#ending = false;
    clearTimeout(this.#timer);
    this.#releasing = lock
      .release()
      .catch(() => undefined)
      .finally(this.#onEnd);
  }

  #arm(): void {
    this.#timer = setTimeout(() => void this.#check(), CHECK_MS);
    this.#timer.unref();
  }

  /**
   * End the turn when there is nothing to do, or when another process waits
   * and the turn has lasted `TURN_MS`; go on otherwise.
   */
  async #check(): Promise<void> {
    const lock = this.#lock;
    if (lock === undefined) return;
    let yieldTurn = this.#idle();
    if (!yieldTurn) {
      try {
        // The query also finds a lost lock connection, so it runs every time.
        const waiting = await lock.contended();
        this.#waited ||= waiting;
        yieldTurn = this.#waited && performance.now() - this.#started >= TURN_MS;
      } catch {
        // A failed check ends the turn, so a broken connection is not kept.
        yieldTurn = true;
      }
    }
    if (this.#lock !== lock) return;
    if (yieldTurn) {
      this.#ending = true;
      this.#onEnd();
    } else {
      this.#arm();
    }
  }
}
