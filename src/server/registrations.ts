import type { JsonService, RequestContext } from '../services/types.js';

/**
 * A service spoken in the AWS query protocol (IAM, STS, CloudFormation):
 * `params` are the decoded form fields other than `Action` and `Version`, and
 * `handle` returns the content of `<ActionResult>` as plain data. Arrays
 * become `<member>` lists, `Date` values ISO 8601 text.
 */
export interface QueryService {
  handle(
    action: string,
    params: Record<string, string>,
    context: RequestContext,
  ): Promise<Record<string, unknown>>;
}

/** A JSON-protocol service, selected by the prefix of `X-Amz-Target`. */
export interface JsonServiceRegistration {
  /** The part of `X-Amz-Target` before the dot, such as `TrentService`. */
  targetPrefix: string;
  /** The SigV4 signing name requests must be scoped to, such as `kms`. */
  signingName: string;
  /** The AWS JSON protocol version, which sets the response content type. */
  jsonVersion: '1.0' | '1.1';
  /** The service's name in metrics and logs, such as `kms`. */
  name: string;
  /**
   * The code of the 503 the service returns when the store cannot be
   * reached, such as KMS's `DependencyTimeoutException`;
   * `ServiceUnavailableException` when not given.
   */
  unavailableCode?: string;
  service: JsonService;
}

/** A query-protocol service, selected by the credential scope's service name. */
export interface QueryServiceRegistration {
  /** The SigV4 signing name, such as `iam`; it selects the service. */
  signingName: string;
  /** The `xmlns` of responses, such as `https://iam.amazonaws.com/doc/2010-05-08/`. */
  xmlNamespace: string;
  service: QueryService;
}

/** A decoded REST-JSON request. */
export interface RestRequest {
  /** Path parameters, percent-decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The JSON body, or undefined when the request has none. */
  body: Record<string, unknown> | undefined;
}

export interface RestResponse {
  /** 200 unless given. */
  status?: number;
  /** Sent as JSON; no body is sent when undefined. */
  body?: Record<string, unknown>;
}

/** One operation of a REST-JSON API, such as QLDB's `DescribeLedger`. */
export interface RestRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** A path with `{name}` segments, such as `/ledgers/{name}`. */
  path: string;
  /** The operation name used in metrics and logs, such as `DescribeLedger`. */
  operation: string;
  handle(request: RestRequest, context: RequestContext): Promise<RestResponse | undefined>;
}

/** A REST-JSON API: its routes and the signing name they are scoped to. */
export interface RestServiceRegistration {
  /** The service's name in metrics and logs, such as `qldb`. */
  name: string;
  signingName: string;
  /** As for a JSON service: the code of the 503 sent when the store cannot be reached. */
  unavailableCode?: string;
  routes: RestRoute[];
  /**
   * Path prefixes the API owns even where no route matches yet, such as
   * `/ledgers`: requests there must be signed for `signingName`, and get
   * `UnknownOperationException` when no route matches.
   */
  pathPrefixes?: string[];
}
