import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';

export interface RoleCredentialsOptions {
  /** The role to assume, such as `arn:aws:iam::000000000000:role/qldb-kms-create-record-role`. */
  roleArn: string;
  /** Names the session in the role's ARN: `assumed-role/<role>/<sessionName>`. */
  sessionName: string;
  /** The STS client that assumes the role, with the caller's own credentials. */
  sts: STSClient;
  /** Lifetime of each set of credentials, 900 to 43,200 seconds. */
  durationSeconds?: number;
  /** Fetch new credentials this long before the current ones expire. */
  refreshBeforeMs?: number;
}

/**
 * A credential provider for one role, as a Lambda function has for its
 * execution role: it assumes the role through STS and assumes it again
 * shortly before the temporary credentials expire. Concurrent callers share
 * one AssumeRole call.
 */
export function roleCredentials(options: RoleCredentialsOptions): AwsCredentialIdentityProvider {
  const refreshBeforeMs = options.refreshBeforeMs ?? 5 * 60_000;
  let current: AwsCredentialIdentity | undefined;
  let pending: Promise<AwsCredentialIdentity> | undefined;

  const assume = async (): Promise<AwsCredentialIdentity> => {
    const reply = await options.sts.send(
      new AssumeRoleCommand({
        RoleArn: options.roleArn,
        RoleSessionName: options.sessionName,
        DurationSeconds: options.durationSeconds ?? 3600,
      }),
    );
    const credentials = reply.Credentials;
    if (
      credentials?.AccessKeyId === undefined ||
      credentials.SecretAccessKey === undefined ||
      credentials.SessionToken === undefined
    ) {
      throw new Error(`AssumeRole for ${options.roleArn} returned no credentials`);
    }
    return {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      sessionToken: credentials.SessionToken,
      expiration: credentials.Expiration,
    };
  };

  return async () => {
    const expiresAt = current?.expiration?.getTime() ?? 0;
    if (current !== undefined && expiresAt - refreshBeforeMs > Date.now()) return current;
    pending ??= assume().finally(() => {
      pending = undefined;
    });
    current = await pending;
    return current;
  };
}
