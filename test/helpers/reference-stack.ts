/**
 * The reference stack's key policy for tests: statement A lets the account
 * administer the key (the root delegation), B lets any principal of the
 * account describe the key and create grants through QLDB, and C, when
 * roles are given, lets those roles decrypt.
 */
export function referenceKeyPolicy(options: {
  account: string;
  region: string;
  /** Role ARNs for statement C; none leaves it out, as on the no-access key. */
  roleArns?: string[];
  id?: string;
}): string {
  const statements: unknown[] = [
    {
      Sid: 'Allow administration of the key',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${options.account}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
    {
      Sid: 'Allow access to principals authorized to use Amazon QLDB',
      Effect: 'Allow',
      Principal: { AWS: '*' },
      Action: ['kms:DescribeKey', 'kms:CreateGrant'],
      Resource: '*',
      Condition: {
        StringEquals: {
          'kms:ViaService': `qldb.${options.region}.amazonaws.com`,
          'kms:CallerAccount': options.account,
        },
      },
    },
  ];
  if (options.roleArns !== undefined && options.roleArns.length > 0) {
    statements.push({
      Sid: 'Allow access to create and get record roles',
      Effect: 'Allow',
      Principal: { AWS: options.roleArns },
      Action: 'kms:Decrypt',
      Resource: '*',
    });
  }
  return JSON.stringify({
    Version: '2012-10-17',
    ...(options.id === undefined ? {} : { Id: options.id }),
    Statement: statements,
  });
}
