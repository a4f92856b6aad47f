/**
 * Handlers for a standard output whose reader went away, as in `vellum outputs | head -1`.
 * Without a handler the command exits at once. The demo registers one to remove its stage first.
 */
const handlers = new Set<() => void>();

/** Register `handler` to run, instead of an exit, when standard output is closed, and return its removal. */
export function onStdoutClosed(handler: () => void): () => void {
  handlers.add(handler);
  return () => handlers.delete(handler);
}

/** Listen for standard output's EPIPE, which a reader that stopped early causes. */
export function watchStdout(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    // A reader that stops early is not an error.
    if (handlers.size === 0) process.exit(process.exitCode ?? 0);
    for (const handler of handlers) handler();
  });
}
