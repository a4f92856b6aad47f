import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The sources of a server's session and ledger gauges, read at each scrape. */
export interface LedgerGauges {
  /** QLDB sessions open now. */
  openSessions(): number;
  /** Each ledger with the `EncryptionStatus` its key guard last found. */
  encryptionStatuses(): Array<{ ledger: string; status: string }>;
}

const ENCRYPTION_STATUSES = ['ENABLED', 'UPDATING', 'KMS_KEY_INACCESSIBLE'];
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Prometheus metrics of one server. They count requests and QLDB session
 * commands, with their latency, and once `watch` is called they report open
 * sessions and each ledger's encryption status. Each server has its own
 * registry, so several servers can live in one process.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'service' | 'operation' | 'status'>;
  readonly #duration: Histogram<'service' | 'operation'>;
  readonly #commands: Counter<'command' | 'outcome'>;
  readonly #commandDuration: Histogram<'command'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'vellum_' });
    this.#requests = new Counter({
      name: 'vellum_requests_total',
      help: 'API requests by service, operation and HTTP status',
      labelNames: ['service', 'operation', 'status'],
      registers: [this.registry],
    });
    this.#duration = new Histogram({
      name: 'vellum_request_duration_seconds',
      help: 'API request latency in seconds, from the first byte received to the response sent',
      labelNames: ['service', 'operation'],
      buckets: BUCKETS,
      registers: [this.registry],
    });
    this.#commands = new Counter({
      name: 'vellum_qldb_commands_total',
      help: 'QLDB session commands by command and outcome: ok, or the error code returned',
      labelNames: ['command', 'outcome'],
      registers: [this.registry],
    });
    this.#commandDuration = new Histogram({
      name: 'vellum_qldb_command_duration_seconds',
      help: 'QLDB session command latency in seconds, in the session service',
      labelNames: ['command'],
      buckets: BUCKETS,
      registers: [this.registry],
    });
  }

  observe(service: string, operation: string, status: number, seconds: number): void {
    this.#requests.inc({ service, operation, status: String(status) });
    this.#duration.observe({ service, operation }, seconds);
  }

  /** Count one QLDB session command; `outcome` is `ok` or the error code returned. */
  observeCommand(command: string, outcome: string, seconds: number): void {
    this.#commands.inc({ command, outcome });
    this.#commandDuration.observe({ command }, seconds);
  }

  /** Report the server's sessions and ledgers, read from `gauges` at each scrape. */
  watch(gauges: LedgerGauges): void {
    new Gauge({
      name: 'vellum_qldb_sessions_open',
      help: 'QLDB sessions open now',
      registers: [this.registry],
      collect() {
        this.set(gauges.openSessions());
      },
    });
    new Gauge({
      name: 'vellum_ledger_encryption_status',
      help: "1 for each ledger's EncryptionStatus as its key guard last found it, 0 for the others",
      labelNames: ['ledger', 'status'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { ledger, status } of gauges.encryptionStatuses()) {
          for (const candidate of ENCRYPTION_STATUSES) {
            this.set({ ledger, status: candidate }, candidate === status ? 1 : 0);
          }
        }
      },
    });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
