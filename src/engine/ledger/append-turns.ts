import type { AppendLock, Store } from '../../storage/store.js';

/**
 * How long one committer keeps a shared ledger's append lock once it has it,
 * in milliseconds. Other processes' commits wait up to this long (plus the
 * batches in flight); a longer turn means fewer lock round trips per batch.
 */
export const TURN_MS = 10;

/**
 * Turns at a shared store's append lock for one ledger's committer. While
 * the committer has its turn, no other process appends to the ledger, so it
 * catches up once and then validates and appends batch after batch without
 * racing anyone. A turn ends after `TURN_MS`, once the batches in flight
 * are durable, so that writers in other processes get their turn.
 */
export class AppendTurns {
  readonly #store: Store;
  readonly #ledgerId: string;
  readonly #onEnd: () => void;
  #lock: AppendLock | undefined;
  #endsAt = 0;
  #timer: NodeJS.Timeout | undefined;

  /** `onEnd` runs when a turn's time is up and when a released turn is gone, so the committer looks again. */
  constructor(store: Store, ledgerId: string, onEnd: () => void) {
    this.#store = store;
    this.#ledgerId = ledgerId;
    this.#onEnd = onEnd;
  }

  /** True while this committer has the lock and its time is not up. */
  get active(): boolean {
    return this.#lock !== undefined && Date.now() < this.#endsAt;
  }

  get held(): boolean {
    return this.#lock !== undefined;
  }

  /** Wait for the lock and start a turn. */
  async begin(): Promise<void> {
    this.#lock = await this.#store.lockAppends(this.#ledgerId);
    this.#endsAt = Date.now() + TURN_MS;
    this.#timer = setTimeout(this.#onEnd, TURN_MS + 1);
    this.#timer.unref();
  }

  /** End the turn and let other writers append; errors only mean the lock went with its connection. */
  end(): void {
    const lock = this.#lock;
    if (lock === undefined) return;
    this.#lock = undefined;
    clearTimeout(this.#timer);
    void lock
      .release()
      .catch(() => undefined)
      .finally(this.#onEnd);
  }
}
