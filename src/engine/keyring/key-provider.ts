/**
 * The source of a ledger's data key and the wrapping for its storage. The
 * root key file provider is the embedded default. A KMS-backed provider
 * replaces it without changing the stored format of anything else.
 */
export interface KeyProvider {
  /** Wrap a new data key for the ledger; the result is stored with the ledger. */
  wrap(ledgerId: string, dataKey: Uint8Array, ledgerName?: string): Promise<Uint8Array>;
  /** Unwrap a stored data key; rejects when the key is not available. */
  unwrap(ledgerId: string, wrapped: Uint8Array, ledgerName?: string): Promise<Uint8Array>;
  /**
   * Create a new data key for a new ledger and return it with its wrapped
   * form, as a KMS's GenerateDataKey does. Without it, the engine draws the
   * key from node:crypto and calls `wrap`.
   */
  generate?(
    ledgerId: string,
    ledgerName: string,
  ): Promise<{ dataKey: Uint8Array; wrapped: Uint8Array }>;
}
