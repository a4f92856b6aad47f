/**
 * Queues of asynchronous work, one per key. Work queued under one key runs
 * one job at a time in queue order, and work under different keys runs side
 * by side. A job that fails does not stop the jobs queued after it.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>();

  /** Run `work` once the work queued earlier under `key` has settled, with its result. */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(work);
    const tail: Promise<void> = result
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        if (this.#tails.get(key) === tail) this.#tails.delete(key);
      });
    this.#tails.set(key, tail);
    return result;
  }

  /** Wait until no work is queued under any key, including work queued meanwhile. */
  async drain(): Promise<void> {
    while (this.#tails.size > 0) await Promise.allSettled(this.#tails.values());
  }
}
