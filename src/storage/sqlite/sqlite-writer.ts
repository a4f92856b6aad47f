import { Worker } from 'node:worker_threads';
import { SequenceConflictError, StoreClosedError, type BlockWrite } from '../store.js';
import { encodeBlockWrites } from './block-write-codec.js';
import type { AppendRequest, AppendResponse } from './sqlite-writer-thread.js';

/** Sends block appends to the writer thread and resolves each once it is durable. */
export class SqliteWriter {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  #nextId = 0;
  #failure: Error | undefined;
  #closing = false;

  constructor(path: string) {
    this.#worker = startWorker(new URL('./sqlite-writer-thread.js', import.meta.url), { path });
    // The thread keeps the process alive only while an append is in flight.
    this.#worker.unref();
    this.#worker.on('message', (response: AppendResponse) => this.#settle(response));
    this.#worker.on('error', (error) => this.#failAll(error));
    this.#worker.on('exit', (code) => {
      if (this.#pending.size === 0) return;
      // Appends sent after close() find the store closed, not a failure to retry.
      this.#failAll(
        this.#closing
          ? new StoreClosedError()
          : new Error(`SQLite writer thread exited with code ${code}`),
      );
    });
  }

  /** True when no append is in flight on the thread and the thread works. */
  get idle(): boolean {
    return this.#pending.size === 0 && this.#failure === undefined;
  }

  append(ledger: number, blocks: BlockWrite[]): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      const payload = encodeBlockWrites(blocks);
      const message: AppendRequest = { id, ledger, blocks: payload };
      this.#worker.postMessage(message, [payload.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    const exited = new Promise((resolve) => this.#worker.once('exit', resolve));
    this.#worker.ref();
    this.#worker.postMessage('close');
    await exited;
  }

  #settle(response: AppendResponse): void {
    const pending = this.#pending.get(response.id);
    if (pending === undefined) return;
    this.#pending.delete(response.id);
    // While close() waits for the thread to exit, the thread keeps the process alive.
    if (this.#pending.size === 0 && !this.#closing) this.#worker.unref();
    if (response.ok) pending.resolve();
    else if (response.conflict !== undefined) {
      pending.reject(
        new SequenceConflictError(response.conflict.expected, response.conflict.received),
      );
    } else pending.reject(new Error(response.message));
  }

  #failAll(error: Error): void {
    this.#failure = error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/**
 * Start the writer thread. Built, the thread is plain JavaScript. Run from
 * source under tsx (tests, benchmarks), the thread must load tsx itself,
 * because Node 20 does not pass `--import` loaders on to workers.
 */
function startWorker(script: URL, workerData: unknown): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(script, { workerData });
  const source = new URL(script.href.replace(/\.js$/, '.ts'));
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(source.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}
