import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics of one server: requests by service, operation and HTTP
 * status, and their latency by service and operation. Each server has its
 * own registry, so several servers can live in one process.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'service' | 'operation' | 'status'>;
  readonly #duration: Histogram<'service' | 'operation'>;

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
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
  }

  observe(service: string, operation: string, status: number, seconds: number): void {
    this.#requests.inc({ service, operation, status: String(status) });
    this.#duration.observe({ service, operation }, seconds);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
