export {
  createServer,
  DEFAULT_BODY_LIMIT,
  type ServerOptions,
  type VellumServer,
} from './server.js';
export type {
  JsonServiceRegistration,
  QueryService,
  QueryServiceRegistration,
  RestRequest,
  RestResponse,
  RestRoute,
  RestServiceRegistration,
} from './registrations.js';
export { SigV4Verifier, MAX_CLOCK_SKEW_MS } from './sigv4/verifier.js';
