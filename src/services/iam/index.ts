export {
  IdentityService,
  type AccessKeyMetadata,
  type Credentials,
  type IdentityOptions,
  type RoleRecord,
  type SessionCredentials,
  type UserRecord,
} from './identity.js';
export { IamQueryService, StsQueryService } from './iam-query.js';
export {
  IDENTITY_POLICY,
  KEY_POLICY,
  MalformedPolicyError,
  parsePolicy,
  TRUST_POLICY,
  type PolicyDocument,
} from './policy.js';
export {
  evaluatePolicies,
  type AuthorizationRequest,
  type PolicyVerdict,
} from './policy-evaluation.js';
