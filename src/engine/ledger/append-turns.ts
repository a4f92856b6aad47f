import type { AppendLock, Store } from '../../storage/store.js';

/**
 * How long one committer appends before it checks whether another process
 * waits for the ledger's append lock, in milliseconds. Other processes'
 * commits wait up to about this long, plus the batches in flight.
 */
export const TURN_MS = 10;

/**
 * Turns at a shared store's append lock for one ledger's committer. While
 * the committer has its turn, no other process appends to the ledger, so it
 * catches up once and then validates and appends batch after batch without
 * racing anyone. Every `TURN_MS` the turn ends if another process waits for
 * the lock or this committer has nothing to do, and goes on otherwise. The
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

  /** Wait for the lock and start a turn. */
  async begin(): Promise<void> {
    // The store holds one lock per ledger; the last turn's must be gone first.
    await this.#releasing;
    this.#lock = await this.#store.lockAppends(this.#ledgerId);
    this.#ending = false;
    this.#arm();
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
    this.#timer = setTimeout(() => void this.#check(), TURN_MS);
    this.#timer.unref();
  }

  /** End the turn when another process waits or there is nothing to do; go on otherwise. */
  async #check(): Promise<void> {
    const lock = this.#lock;
    if (lock === undefined) return;
    let yieldTurn = this.#idle();
    if (!yieldTurn) {
      // A failed check ends the turn, so a broken connection is not kept.
      yieldTurn = await lock.contended().catch(() => true);
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
