import { randomUUID } from 'node:crypto';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { pino, type Logger } from 'pino';
import { ServiceError, type CredentialResolver, type RequestContext } from '../services/types.js';
import { toWireError } from './errors.js';
import { ServerMetrics } from './metrics.js';
import { decodeJsonBody, jsonContentType, jsonErrorBody } from './protocols/json-protocol.js';
import {
  FORM_CONTENT_TYPE,
  decodeQueryBody,
  renderQueryError,
  renderQueryResponse,
} from './protocols/query-protocol.js';
import { RestRouter, decodeRestBody } from './protocols/rest-router.js';
import type {
  JsonServiceRegistration,
  QueryServiceRegistration,
  RestServiceRegistration,
} from './registrations.js';
import type { Protocol } from './sigv4/auth-failure.js';
import type { ParsedAuthorization } from './sigv4/authorization-header.js';
import { SigV4Verifier, type SignedRequest } from './sigv4/verifier.js';

/** QLDB's largest transaction is 4 MB of statements and parameters; base64 and JSON add a third. */
export const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;

export interface ServerOptions {
  /** Resolves the access keys that sign requests. */
  credentials: CredentialResolver;
  /** The region this endpoint serves, such as `us-east-1`. */
  region: string;
  /** The logger; a pino logger at `logLevel` on stdout when absent. */
  logger?: Logger;
  logLevel?: string;
  /** The largest request body accepted, in bytes. */
  bodyLimit?: number;
  /** Epoch milliseconds; replaceable so tests can move the server's clock. */
  now?: () => number;
  /** Runs once the HTTP server has stopped, to close services, the engine and the store. */
  onClose?: () => Promise<void>;
  /** Rejects when the server cannot serve, such as when its store is unreachable; `/health` then returns 503. */
  healthCheck?: () => Promise<void>;
}

/** The Vellum HTTP endpoint: AWS protocols, SigV4 verification, health and metrics. */
export interface VellumServer {
  readonly app: FastifyInstance;
  readonly metrics: ServerMetrics;
  readonly logger: Logger;
  registerJsonService(registration: JsonServiceRegistration): void;
  registerQueryService(registration: QueryServiceRegistration): void;
  registerRestService(registration: RestServiceRegistration): void;
  /** Listen, by default on 127.0.0.1 with a free port; resolves with the base URL. */
  listen(options?: { host?: string; port?: number }): Promise<string>;
  /** Stop accepting, finish requests in flight, then run `onClose`. Safe to call twice. */
  close(): Promise<void>;
}

/** Service and operation labels of a request, for metrics and the completion log line. */
interface RequestLabels {
  service: string;
  operation: string;
}

const OPERATION_NAME = /^[A-Za-z][A-Za-z0-9]{0,63}$/;
const EMPTY_BODY = Buffer.alloc(0);

/**
 * Build the server. Services are registered afterwards, before or after
 * `listen`.
 *
 * @example
 * const server = createServer({ credentials, region: 'us-east-1' });
 * server.registerJsonService({ targetPrefix: 'TrentService', signingName: 'kms', jsonVersion: '1.1', name: 'kms', service: kms });
 * const url = await server.listen(); // 'http://127.0.0.1:41234'
 */
export function createServer(options: ServerOptions): VellumServer {
  const logger = options.logger ?? pino({ level: options.logLevel ?? 'info' });
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: 'requestId',
    }),
    genReqId: () => randomUUID(),
    bodyLimit,
    // While the server stops, a request that arrives on a connection still
    // open is served, with `Connection: close`. Fastify's own 503 body for
    // it is one that no AWS client can read.
    return503OnClosing: false,
  });
  const metrics = new ServerMetrics();
  const verifier = new SigV4Verifier({
    credentials: options.credentials,
    region: options.region,
    now: options.now,
  });
  const jsonServices = new Map<string, JsonServiceRegistration>();
  const queryServices = new Map<string, QueryServiceRegistration>();
  const restRouter = new RestRouter();
  // The QLDB control plane owns these paths before any of its routes is
  // registered, so requests there are always checked against its signing name.
  restRouter.add({
    name: 'qldb',
    signingName: 'qldb',
    pathPrefixes: ['/ledgers', '/tags', '/journal-s3-exports'],
    routes: [],
  });
  const labels = new WeakMap<FastifyRequest, RequestLabels>();
  let closing = false;

  // Keep the body as the raw bytes the client signed; each protocol decodes it itself.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });

  app.addHook('onRequest', async (request, reply) => {
    labels.set(request, { service: 'unknown', operation: 'unknown' });
    reply.header('x-amzn-RequestId', request.id);
    if (closing) reply.header('connection', 'close');
  });

  app.addHook('onResponse', async (request, reply) => {
    const label = labels.get(request) ?? { service: 'unknown', operation: 'unknown' };
    metrics.observe(label.service, label.operation, reply.statusCode, reply.elapsedTime / 1000);
    request.log.debug(
      { ...label, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
      'request completed',
    );
  });

  app.setErrorHandler(async (error, request, reply) => {
    const protocol = detectProtocol(request);
    sendError(request, reply, protocol, error, undefined);
  });

  // Methods outside the route table, such as HEAD on an API path or OPTIONS.
  app.setNotFoundHandler(async (request, reply) => {
    const error = new ServiceError(
      'UnknownOperationException',
      `No operation of this endpoint matches ${request.method} ${request.url.split('?')[0]}.`,
      404,
    );
    sendError(request, reply, detectProtocol(request), error, undefined);
  });

  app.get('/health', async (request, reply) => {
    labels.set(request, { service: 'vellum', operation: 'Health' });
    if (closing) return reply.code(503).send({ status: 'stopping' });
    try {
      await options.healthCheck?.();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return reply.code(503).send({ status: 'unavailable', reason });
    }
    return reply.code(200).send({ status: 'ok' });
  });

  app.get('/metrics', async (request, reply) => {
    labels.set(request, { service: 'vellum', operation: 'Metrics' });
    reply.header('content-type', metrics.contentType).send(await metrics.render());
  });

  app.route({
    method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/*',
    handler: async (request, reply) => {
      const signed = signedRequest(request);
      const protocol = detectProtocol(request);
      if (protocol === 'json') await handleJson(request, reply, signed);
      else if (protocol === 'query') await handleQuery(request, reply, signed);
      else await handleRest(request, reply, signed);
    },
  });

  async function authenticate(
    request: FastifyRequest,
    signed: SignedRequest,
    services: readonly string[] | undefined,
    authorization: ParsedAuthorization = verifier.parse(signed),
  ): Promise<RequestContext> {
    const record = await verifier.verify(
      signed,
      authorization,
      services ?? [authorization.service],
    );
    return { principal: record.principal, requestId: request.id, region: authorization.region };
  }

  async function handleJson(
    request: FastifyRequest,
    reply: FastifyReply,
    signed: SignedRequest,
  ): Promise<void> {
    const target = String(request.headers['x-amz-target']);
    const dot = target.indexOf('.');
    const registration = jsonServices.get(dot < 0 ? target : target.slice(0, dot));
    const operation = dot < 0 ? '' : target.slice(dot + 1);
    const label = labels.get(request)!;
    if (registration !== undefined) label.service = registration.name;

    try {
      const context = await authenticate(
        request,
        signed,
        registration === undefined ? undefined : [registration.signingName],
      );
      if (registration === undefined || !OPERATION_NAME.test(operation)) {
        throw new ServiceError(
          'UnknownOperationException',
          `X-Amz-Target '${target}' names no operation of this endpoint; ` +
            `known prefixes are ${[...jsonServices.keys()].join(', ') || 'none'}.`,
        );
      }
      label.operation = operation;
      const input = decodeJsonBody(
        signed.body,
        request.headers['content-type'],
        registration.jsonVersion,
      );
      const output = await registration.service.handle(operation, input, context);
      reply
        .code(200)
        .header('content-type', jsonContentType(registration.jsonVersion))
        .send(Buffer.from(JSON.stringify(output ?? {})));
    } catch (error) {
      sendError(request, reply, 'json', error, registration);
    }
  }

  async function handleQuery(
    request: FastifyRequest,
    reply: FastifyReply,
    signed: SignedRequest,
  ): Promise<void> {
    const label = labels.get(request)!;
    let registration: QueryServiceRegistration | undefined;
    try {
      const authorization = verifier.parse(signed);
      registration = queryServices.get(authorization.service);
      const context = await authenticate(request, signed, [...queryServices.keys()], authorization);
      // Verification passed, so the scope names a registered query service.
      registration = registration!;
      label.service = registration.signingName;

      const { action, params } = decodeQueryBody(signed.body);
      if (OPERATION_NAME.test(action)) label.operation = action;
      const result = await registration.service.handle(action, params, context);
      reply
        .code(200)
        .header('content-type', 'text/xml')
        .send(
          Buffer.from(
            renderQueryResponse(action, result ?? {}, registration.xmlNamespace, request.id),
          ),
        );
    } catch (error) {
      sendError(request, reply, 'query', error, registration);
    }
  }

  async function handleRest(
    request: FastifyRequest,
    reply: FastifyReply,
    signed: SignedRequest,
  ): Promise<void> {
    const label = labels.get(request)!;
    const match = restRouter.match(request.method, signed.path);
    const signingName = match?.registration.signingName ?? restRouter.signingNameFor(signed.path);
    if (match !== undefined) label.service = match.registration.name;

    try {
      const context = await authenticate(
        request,
        signed,
        signingName === undefined ? undefined : [signingName],
      );
      if (match === undefined) {
        throw new ServiceError(
          'UnknownOperationException',
          `No operation of this endpoint matches ${request.method} ${signed.path}.`,
          404,
        );
      }
      label.operation = match.route.operation;
      const body = decodeRestBody(signed.body);
      const query = new URLSearchParams(signed.rawQuery);
      const response = await match.route.handle({ params: match.params, query, body }, context);
      reply.code(response?.status ?? 200);
      if (response?.body === undefined) reply.send();
      else {
        reply
          .header('content-type', 'application/json')
          .send(Buffer.from(JSON.stringify(response.body)));
      }
    } catch (error) {
      sendError(request, reply, 'rest-json', error, match?.registration);
    }
  }

  function sendError(
    request: FastifyRequest,
    reply: FastifyReply,
    protocol: Protocol,
    error: unknown,
    registration:
      JsonServiceRegistration | QueryServiceRegistration | RestServiceRegistration | undefined,
  ): void {
    const unavailableCode =
      registration !== undefined && 'unavailableCode' in registration
        ? registration.unavailableCode
        : undefined;
    const wire = toWireError(error, protocol, unavailableCode);
    if (wire.status === 413) {
      wire.message = `The request body exceeds the limit of ${bodyLimit} bytes; send a smaller request body.`;
    }
    if (wire.internal) request.log.error({ err: error }, 'request failed with an unexpected error');
    else if (wire.status >= 500)
      request.log.warn({ code: wire.code, message: wire.message }, 'request failed');
    else request.log.debug({ code: wire.code, message: wire.message }, 'request rejected');

    const label = labels.get(request);
    if (label !== undefined && /^(UnknownOperation|InvalidAction)/.test(wire.code)) {
      label.operation = 'unknown';
    }

    reply.code(wire.status).header('x-amzn-ErrorType', wire.code);
    if (protocol === 'query') {
      const namespace =
        registration !== undefined && 'xmlNamespace' in registration
          ? registration.xmlNamespace
          : undefined;
      reply
        .header('content-type', 'text/xml')
        .send(
          Buffer.from(
            renderQueryError(wire.code, wire.message, wire.status, namespace, request.id),
          ),
        );
    } else if (protocol === 'json') {
      const version =
        registration !== undefined && 'jsonVersion' in registration
          ? registration.jsonVersion
          : '1.1';
      reply
        .header('content-type', jsonContentType(version))
        .send(Buffer.from(jsonErrorBody(wire.code, wire.message)));
    } else {
      reply
        .header('content-type', 'application/json')
        .send(Buffer.from(JSON.stringify({ Message: wire.message, ...wire.fields })));
    }
  }

  let closed: Promise<void> | undefined;

  return {
    app,
    metrics,
    logger,
    registerJsonService(registration) {
      jsonServices.set(registration.targetPrefix, registration);
    },
    registerQueryService(registration) {
      queryServices.set(registration.signingName, registration);
    },
    registerRestService(registration) {
      restRouter.add(registration);
    },
    async listen(listenOptions = {}) {
      const host = listenOptions.host ?? '127.0.0.1';
      await app.listen({ host, port: listenOptions.port ?? 0 });
      const address = app.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    },
    close() {
      closed ??= (async () => {
        closing = true;
        await app.close();
        await options.onClose?.();
      })();
      return closed;
    },
  };
}

/** Detect the protocol of a request: by `X-Amz-Target`, then a form body, else REST-JSON. */
function detectProtocol(request: FastifyRequest): Protocol {
  if (request.headers['x-amz-target'] !== undefined) return 'json';
  const contentType = request.headers['content-type'] ?? '';
  if (request.method === 'POST' && contentType.toLowerCase().startsWith(FORM_CONTENT_TYPE)) {
    return 'query';
  }
  return 'rest-json';
}

function signedRequest(request: FastifyRequest): SignedRequest {
  const url = request.raw.url ?? '/';
  const question = url.indexOf('?');
  return {
    method: request.method,
    path: question < 0 ? url : url.slice(0, question),
    rawQuery: question < 0 ? '' : url.slice(question + 1),
    headers: request.headers,
    body: Buffer.isBuffer(request.body) ? request.body : EMPTY_BODY,
  };
}
