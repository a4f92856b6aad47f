import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  IDENTITY_POLICY,
  KEY_POLICY,
  MalformedPolicyError,
  parsePolicy,
  TRUST_POLICY,
} from '../../../../src/services/iam/policy.js';
import { evaluatePolicies } from '../../../../src/services/iam/policy-evaluation.js';
import { withPrincipalIds } from '../../../../src/services/iam/principal-ids.js';
import type { Principal } from '../../../../src/services/types.js';

const ACCOUNT = '111122223333';
const root: Principal = {
  accountId: ACCOUNT,
  arn: `arn:aws:iam::${ACCOUNT}:root`,
  userId: ACCOUNT,
  accessKeyId: 'AKIAROOT',
};
const alice: Principal = {
  accountId: ACCOUNT,
  arn: `arn:aws:iam::${ACCOUNT}:user/alice`,
  userId: 'AIDAALICE',
  accessKeyId: 'AKIAALICE',
};
const session: Principal = {
  accountId: ACCOUNT,
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/reader/s1`,
  roleArn: `arn:aws:iam::${ACCOUNT}:role/reader`,
  userId: 'AROAREADER:s1',
  accessKeyId: 'ASIAREADER',
};
const stranger: Principal = {
  accountId: '999988887777',
  arn: 'arn:aws:iam::999988887777:user/eve',
  userId: 'AIDAEVE',
  accessKeyId: 'AKIAEVE',
};

function identity(statements: unknown) {
  return parsePolicy(
    JSON.stringify({ Version: '2012-10-17', Statement: statements }),
    IDENTITY_POLICY,
  );
}

function keyPolicy(statements: unknown) {
  return parsePolicy(JSON.stringify({ Version: '2012-10-17', Statement: statements }), KEY_POLICY);
}

test('statement object and list both parse', () => {
  const single = identity({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' });
  const list = identity([{ Effect: 'Allow', Action: ['kms:Decrypt'], Resource: ['*'] }]);
  assert.deepEqual(single.statements, list.statements);
  assert.equal(single.version, '2012-10-17');
});

test('malformed policies name the fault', () => {
  const cases: Array<[string, RegExp]> = [
    ['not json', /Syntax errors/],
    ['[]', /JSON object/],
    ['{"Version":"2012-10-17"}', /Statement field is missing/],
    ['{"Version":"2020-01-01","Statement":[]}', /version/],
    ['{"Statement":{"Effect":"Maybe","Action":"kms:*","Resource":"*"}}', /Effect "Maybe"/],
    ['{"Statement":{"Effect":"Allow","Action":"Decrypt","Resource":"*"}}', /prefaced by a vendor/],
    ['{"Statement":{"Effect":"Allow","Action":"kms:*"}}', /must contain resources/],
    ['{"Statement":{"Effect":"Allow","Resource":"*"}}', /must contain actions/],
    ['{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"key/1"}}', /ARN format/],
    [
      '{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*","Principal":"*"}}',
      /should not specify a principal/,
    ],
    [
      '{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"NumberWobbly":{"a:b":"1"}}}}',
      /Invalid Condition type: NumberWobbly/,
    ],
    [
      '{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"DateLessThanIfExists":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}}',
      /operator DateLessThanIfExists in statement 1 is valid in AWS policies but not supported by Vellum/,
    ],
    [
      '{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}',
      /operator NotIpAddress .* not supported by Vellum/,
    ],
    [
      '{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*","Bogus":1}}',
      /unknown field Bogus/,
    ],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => parsePolicy(text, IDENTITY_POLICY),
      (error: unknown) => {
        assert.ok(error instanceof MalformedPolicyError, text);
        assert.match(error.message, pattern, text);
        return true;
      },
    );
  }
});

test('resource policies require a valid principal', () => {
  assert.throws(
    () =>
      parsePolicy('{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}', KEY_POLICY),
    /no principal/,
  );
  assert.throws(
    () =>
      keyPolicy({ Effect: 'Allow', Principal: { AWS: 'alice' }, Action: 'kms:*', Resource: '*' }),
    /Invalid principal/,
  );
  const trust = parsePolicy(
    JSON.stringify({
      Statement: { Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: 'sts:AssumeRole' },
    }),
    TRUST_POLICY,
  );
  assert.deepEqual(trust.statements[0]!.principal, { any: false, aws: [ACCOUNT], service: [] });
});

test('random JSON never crashes the parser', () => {
  fc.assert(
    fc.property(fc.json(), (text) => {
      for (const rules of [IDENTITY_POLICY, KEY_POLICY, TRUST_POLICY]) {
        try {
          parsePolicy(text, rules);
        } catch (error) {
          assert.ok(error instanceof MalformedPolicyError, String(error));
        }
      }
    }),
    { numRuns: 2000 },
  );
});

test('random statements never crash the parser', () => {
  const value = fc.oneof(
    fc.string(),
    fc.array(fc.string()),
    fc.integer(),
    fc.constant(null),
    fc.object(),
  );
  const statement = fc.record(
    {
      Effect: fc.oneof(fc.constant('Allow'), fc.constant('Deny'), fc.string()),
      Action: value,
      Resource: value,
      Principal: fc.oneof(fc.constant('*'), fc.record({ AWS: value }), value),
      Condition: fc.dictionary(
        fc.constantFrom('StringEquals', 'BoolIfExists', 'ForAllValues:StringLike', 'X'),
        fc.dictionary(fc.string(), value),
      ),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.oneof(statement, fc.array(statement)), (statements) => {
      const text = JSON.stringify({ Version: '2012-10-17', Statement: statements });
      for (const rules of [IDENTITY_POLICY, KEY_POLICY]) {
        try {
          parsePolicy(text, rules);
        } catch (error) {
          assert.ok(error instanceof MalformedPolicyError, String(error));
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('explicit deny wins over allow', () => {
  const policy = identity([
    { Effect: 'Allow', Action: 'kms:*', Resource: '*' },
    { Effect: 'Deny', Action: 'kms:Decrypt', Resource: '*' },
  ]);
  const decrypt = evaluatePolicies(
    [policy],
    { principal: alice, action: 'kms:Decrypt', resource: 'arn:aws:kms:us-east-1:1:key/k' },
    'identity',
  );
  assert.equal(decrypt.denied, true);
  const encrypt = evaluatePolicies(
    [policy],
    { principal: alice, action: 'kms:Encrypt', resource: 'arn:aws:kms:us-east-1:1:key/k' },
    'identity',
  );
  assert.deepEqual(encrypt, { denied: false, allowed: true, accountAllowed: false });
});

test('no matching statement is an implicit deny', () => {
  const policy = identity({ Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*' });
  const verdict = evaluatePolicies(
    [policy],
    { principal: alice, action: 'kms:Decrypt', resource: '*' },
    'identity',
  );
  assert.deepEqual(verdict, { denied: false, allowed: false, accountAllowed: false });
});

test('actions match wildcards without case', () => {
  const policy = identity({
    Effect: 'Allow',
    Action: ['KMS:generatedatakey*', 'kms:?ncrypt'],
    Resource: '*',
  });
  const allowed = (action: string) =>
    evaluatePolicies([policy], { principal: alice, action, resource: '*' }, 'identity').allowed;
  assert.equal(allowed('kms:GenerateDataKey'), true);
  assert.equal(allowed('kms:GenerateDataKeyWithoutPlaintext'), true);
  assert.equal(allowed('kms:Encrypt'), true);
  assert.equal(allowed('kms:Decrypt'), false);
  assert.equal(allowed('kms:ReEncrypt'), false);
});

test('NotAction and NotResource invert the match', () => {
  const policy = identity([
    { Effect: 'Allow', NotAction: 'kms:Decrypt', Resource: '*' },
    { Effect: 'Deny', Action: 'kms:*', NotResource: 'arn:aws:kms:*:*:key/good-*' },
  ]);
  const run = (action: string, resource: string) =>
    evaluatePolicies([policy], { principal: alice, action, resource }, 'identity');
  assert.equal(run('kms:Encrypt', 'arn:aws:kms:us-east-1:1:key/good-1').allowed, true);
  assert.equal(run('kms:Decrypt', 'arn:aws:kms:us-east-1:1:key/good-1').allowed, false);
  assert.equal(run('kms:Encrypt', 'arn:aws:kms:us-east-1:1:key/bad-1').denied, true);
});

test('resources match wildcards with case', () => {
  const policy = identity({
    Effect: 'Allow',
    Action: 'kms:*',
    Resource: 'arn:aws:kms:*:111122223333:key/ab?d*',
  });
  const allowed = (resource: string) =>
    evaluatePolicies([policy], { principal: alice, action: 'kms:Encrypt', resource }, 'identity')
      .allowed;
  assert.equal(allowed('arn:aws:kms:eu-west-2:111122223333:key/abcd-1'), true);
  assert.equal(allowed('arn:aws:kms:eu-west-2:111122223333:key/ABCD-1'), false);
  assert.equal(allowed('arn:aws:kms:eu-west-2:999988887777:key/abcd-1'), false);
});

test('principals match by ARN, role and account', () => {
  const policy = keyPolicy([
    {
      Sid: 'root',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
    {
      Sid: 'role',
      Effect: 'Allow',
      Principal: { AWS: [`arn:aws:iam::${ACCOUNT}:role/reader`] },
      Action: 'kms:Decrypt',
      Resource: '*',
    },
    {
      Sid: 'user',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/alice` },
      Action: 'kms:Encrypt',
      Resource: '*',
    },
  ]);
  const run = (principal: Principal, action: string) =>
    evaluatePolicies([policy], { principal, action, resource: '*' }, 'resource');
  assert.deepEqual(run(root, 'kms:PutKeyPolicy'), {
    denied: false,
    allowed: true,
    accountAllowed: false,
  });
  assert.deepEqual(run(alice, 'kms:PutKeyPolicy'), {
    denied: false,
    allowed: false,
    accountAllowed: true,
  });
  assert.equal(run(alice, 'kms:Encrypt').allowed, true);
  assert.equal(run(session, 'kms:Decrypt').allowed, true, 'a role session matches its role ARN');
  assert.equal(run(session, 'kms:Encrypt').allowed, false);
  assert.deepEqual(run(stranger, 'kms:Decrypt'), {
    denied: false,
    allowed: false,
    accountAllowed: false,
  });

  const bySession = keyPolicy({
    Effect: 'Allow',
    Principal: { AWS: session.arn },
    Action: 'kms:Decrypt',
    Resource: '*',
  });
  assert.equal(
    evaluatePolicies(
      [bySession],
      { principal: session, action: 'kms:Decrypt', resource: '*' },
      'resource',
    ).allowed,
    true,
  );
});

test('principal ids bind users and roles only', () => {
  const roleArn = `arn:aws:iam::${ACCOUNT}:role/reader`;
  const policy = withPrincipalIds(
    keyPolicy([
      { Effect: 'Allow', Principal: { AWS: alice.arn }, Action: 'kms:Encrypt', Resource: '*' },
      { Effect: 'Allow', Principal: { AWS: roleArn }, Action: 'kms:Decrypt', Resource: '*' },
      { Effect: 'Allow', Principal: { AWS: session.arn }, Action: 'kms:Sign', Resource: '*' },
      { Effect: 'Allow', Principal: '*', Action: 'kms:Verify', Resource: '*' },
      {
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
        Action: 'kms:DescribeKey',
        Resource: '*',
      },
      {
        Effect: 'Allow',
        Principal: '*',
        Action: 'kms:GetKeyPolicy',
        Resource: '*',
        Condition: { ArnEquals: { 'aws:PrincipalArn': alice.arn } },
      },
    ]),
    { [alice.arn]: 'AIDAALICE', [roleArn]: 'AROAREADER' },
  );
  const run = (principal: Principal, action: string) =>
    evaluatePolicies([policy], { principal, action, resource: '*' }, 'resource');
  const newAlice: Principal = { ...alice, userId: 'AIDANEWALICE' };
  const newSession: Principal = { ...session, userId: 'AROANEWREADER:s1' };

  assert.equal(run(alice, 'kms:Encrypt').allowed, true, 'the user the id was recorded for');
  assert.equal(run(newAlice, 'kms:Encrypt').allowed, false, 'a new user of the same name');
  assert.equal(run(session, 'kms:Decrypt').allowed, true, 'a session of the recorded role');
  assert.equal(run(newSession, 'kms:Decrypt').allowed, false, 'a session of a new role');
  assert.equal(run(newSession, 'kms:Sign').allowed, true, 'session ARNs still match by ARN');
  assert.equal(run(newAlice, 'kms:Verify').allowed, true, '"*" still matches');
  assert.equal(run(newAlice, 'kms:DescribeKey').accountAllowed, true, 'the account still matches');
  assert.equal(run(newAlice, 'kms:GetKeyPolicy').allowed, true, 'aws:PrincipalArn is a string');

  const unbound = keyPolicy({
    Effect: 'Allow',
    Principal: { AWS: alice.arn },
    Action: 'kms:Encrypt',
    Resource: '*',
  });
  assert.equal(
    evaluatePolicies(
      [unbound],
      { principal: newAlice, action: 'kms:Encrypt', resource: '*' },
      'resource',
    ).allowed,
    true,
    'a policy without recorded ids matches by ARN',
  );
});

test('NotPrincipal matches everyone else', () => {
  const policy = keyPolicy({
    Effect: 'Deny',
    NotPrincipal: { AWS: alice.arn },
    Action: 'kms:*',
    Resource: '*',
  });
  assert.equal(
    evaluatePolicies(
      [policy],
      { principal: alice, action: 'kms:Decrypt', resource: '*' },
      'resource',
    ).denied,
    false,
  );
  assert.equal(
    evaluatePolicies(
      [policy],
      { principal: session, action: 'kms:Decrypt', resource: '*' },
      'resource',
    ).denied,
    true,
  );
});

test('NotPrincipal account exempts only root', () => {
  const policy = keyPolicy({
    Effect: 'Deny',
    NotPrincipal: { AWS: [`arn:aws:iam::${ACCOUNT}:root`, alice.arn] },
    Action: 'kms:*',
    Resource: '*',
  });
  const denied = (principal: Principal) =>
    evaluatePolicies([policy], { principal, action: 'kms:Decrypt', resource: '*' }, 'resource')
      .denied;
  assert.equal(denied(root), false);
  assert.equal(denied(alice), false);
  assert.equal(denied(session), true, 'a role session of the account is not exempt');
  assert.equal(denied(stranger), true);
});

test('string conditions with OR values and AND keys', () => {
  const policy = keyPolicy({
    Effect: 'Allow',
    Principal: { AWS: '*' },
    Action: ['kms:DescribeKey', 'kms:CreateGrant'],
    Resource: '*',
    Condition: {
      StringEquals: {
        'kms:ViaService': ['qldb.eu-west-2.amazonaws.com', 'qldb.us-east-1.amazonaws.com'],
        'kms:CallerAccount': ACCOUNT,
      },
    },
  });
  const run = (principal: Principal, keys: Record<string, string>) =>
    evaluatePolicies(
      [policy],
      { principal, action: 'kms:CreateGrant', resource: '*', conditionKeys: keys },
      'resource',
    ).allowed;
  assert.equal(
    run(alice, { 'kms:ViaService': 'qldb.eu-west-2.amazonaws.com', 'kms:CallerAccount': ACCOUNT }),
    true,
  );
  assert.equal(
    run(alice, { 'kms:ViaService': 'qldb.us-east-1.amazonaws.com', 'kms:CallerAccount': ACCOUNT }),
    true,
  );
  assert.equal(
    run(alice, { 'kms:CallerAccount': ACCOUNT }),
    false,
    'missing key fails StringEquals',
  );
  assert.equal(
    run(alice, { 'kms:ViaService': 'ec2.eu-west-2.amazonaws.com', 'kms:CallerAccount': ACCOUNT }),
    false,
  );
  assert.equal(
    run(alice, { 'KMS:VIASERVICE': 'qldb.eu-west-2.amazonaws.com', 'kms:calleraccount': ACCOUNT }),
    true,
    'key names ignore case',
  );
  assert.equal(
    run(alice, {
      'kms:ViaService': 'qldb.eu-west-2.amazonaws.com',
      'kms:CallerAccount': '999988887777',
    }),
    false,
  );
});

test('every condition operator', () => {
  const cases: Array<
    [Record<string, Record<string, unknown>>, Record<string, string | string[]>, boolean]
  > = [
    [{ StringNotEquals: { 'a:k': 'x' } }, { 'a:k': 'y' }, true],
    [{ StringNotEquals: { 'a:k': 'x' } }, { 'a:k': 'x' }, false],
    [{ StringNotEquals: { 'a:k': 'x' } }, {}, true],
    [{ StringEqualsIgnoreCase: { 'a:k': 'HeLLo' } }, { 'a:k': 'hello' }, true],
    [{ StringEquals: { 'a:k': 'HeLLo' } }, { 'a:k': 'hello' }, false],
    [{ StringLike: { 'a:k': 'ab*' } }, { 'a:k': 'abc' }, true],
    [{ StringLike: { 'a:k': 'a?c' } }, { 'a:k': 'abbc' }, false],
    [{ StringNotLike: { 'a:k': 'ab*' } }, { 'a:k': 'xbc' }, true],
    [{ StringNotLike: { 'a:k': 'ab*' } }, { 'a:k': 'abc' }, false],
    [
      { ArnEquals: { 'aws:SourceArn': 'arn:aws:qldb:*:*:ledger/x' } },
      { 'aws:SourceArn': 'arn:aws:qldb:us-east-1:1:ledger/x' },
      true,
    ],
    [
      { ArnLike: { 'aws:SourceArn': 'arn:aws:qldb:*:*:ledger/x*' } },
      { 'aws:SourceArn': 'arn:aws:qldb:us-east-1:1:ledger/y' },
      false,
    ],
    [
      { ArnNotEquals: { 'aws:SourceArn': 'arn:aws:qldb:*:*:ledger/x' } },
      { 'aws:SourceArn': 'arn:aws:qldb:us-east-1:1:ledger/y' },
      true,
    ],
    [
      { ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/app' } },
      { 'aws:PrincipalArn': 'arn:aws:iam::1:x:role/app' },
      false,
    ],
    [
      { ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/*' } },
      { 'aws:PrincipalArn': 'arn:aws:iam::1:role/a:b' },
      true,
    ],
    [
      { ArnLike: { 'aws:SourceArn': 'arn:aws:qldb:us-east-1:1:ledger/x' } },
      { 'aws:SourceArn': 'not an arn' },
      false,
    ],
    [
      { ArnNotLike: { 'aws:SourceArn': 'arn:aws:qldb:*' } },
      { 'aws:SourceArn': 'arn:aws:qldb:us-east-1:1:ledger/y' },
      false,
    ],
    [
      { Bool: { 'kms:GrantIsForAWSResource': true } },
      { 'kms:GrantIsForAWSResource': 'true' },
      true,
    ],
    [
      { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      { 'kms:GrantIsForAWSResource': 'false' },
      false,
    ],
    [{ Bool: { 'kms:GrantIsForAWSResource': 'true' } }, {}, false],
    [{ BoolIfExists: { 'kms:GrantIsForAWSResource': 'true' } }, {}, true],
    [{ StringEqualsIfExists: { 'a:k': 'x' } }, {}, true],
    [{ StringEqualsIfExists: { 'a:k': 'x' } }, { 'a:k': 'y' }, false],
    [{ Null: { 'a:k': 'true' } }, {}, true],
    [{ Null: { 'a:k': 'false' } }, {}, false],
    [{ 'ForAnyValue:StringEquals': { 'a:k': ['x', 'y'] } }, { 'a:k': ['z', 'y'] }, true],
    [{ 'ForAnyValue:StringNotEquals': { 'a:k': 'x' } }, {}, false],
    [{ 'ForAnyValue:StringNotEquals': { 'a:k': 'x' } }, { 'a:k': ['x', 'y'] }, true],
    [{ 'ForAnyValue:StringNotEquals': { 'a:k': 'x' } }, { 'a:k': ['x'] }, false],
    [{ 'ForAnyValue:StringEqualsIfExists': { 'a:k': 'x' } }, {}, false],
    [{ 'ForAllValues:StringNotEquals': { 'a:k': 'x' } }, {}, true],
    [{ 'ForAllValues:StringEquals': { 'a:k': ['x', 'y'] } }, { 'a:k': ['x', 'z'] }, false],
    [{ 'ForAllValues:StringEquals': { 'a:k': ['x', 'y'] } }, { 'a:k': ['x', 'y'] }, true],
    [
      { StringEquals: { 'kms:EncryptionContext:Purpose': 'test' } },
      { 'kms:encryptioncontext:purpose': 'test' },
      true,
    ],
    [{ StringEquals: { 'aws:PrincipalArn': session.roleArn } }, {}, true],
    [{ StringEquals: { 'aws:PrincipalAccount': ACCOUNT } }, {}, true],
  ];
  for (const [condition, keys, expected] of cases) {
    const policy = identity({
      Effect: 'Allow',
      Action: 'kms:*',
      Resource: '*',
      Condition: condition,
    });
    const verdict = evaluatePolicies(
      [policy],
      { principal: session, action: 'kms:Decrypt', resource: '*', conditionKeys: keys },
      'identity',
    );
    assert.equal(
      verdict.allowed,
      expected,
      `${JSON.stringify(condition)} with ${JSON.stringify(keys)}`,
    );
  }
});

test('policy variables resolve per request', () => {
  const allowed = (
    statement: Record<string, unknown>,
    principal: Principal,
    resource: string,
    conditionKeys: Record<string, string> = {},
    version = '2012-10-17',
  ) => {
    const scope = 'NotResource' in statement ? {} : { Resource: '*' };
    const policy = parsePolicy(
      JSON.stringify({
        Version: version,
        Statement: { Effect: 'Allow', Action: 'iam:*', ...scope, ...statement },
      }),
      IDENTITY_POLICY,
    );
    return evaluatePolicies(
      [policy],
      { principal, action: 'iam:GetUser', resource, conditionKeys },
      'identity',
    ).allowed;
  };
  const own = `arn:aws:iam::${ACCOUNT}:user/alice`;
  const other = `arn:aws:iam::${ACCOUNT}:user/bob`;
  const self = { Resource: 'arn:aws:iam::*:user/${aws:username}' };

  assert.equal(allowed(self, alice, own), true);
  assert.equal(allowed(self, alice, other), false);
  assert.equal(allowed(self, session, own), false, 'a role session has no user name');
  assert.equal(allowed(self, alice, own, {}, '2008-10-17'), false, 'older policies are literal');
  assert.equal(
    allowed({ Resource: "arn:aws:iam::*:user/${aws:username, 'bob'}" }, session, other),
    true,
    'the default stands in for a missing value',
  );
  assert.equal(allowed({ NotResource: 'arn:aws:iam::*:user/${aws:username}' }, alice, other), true);
  assert.equal(allowed({ NotResource: 'arn:aws:iam::*:user/${aws:username}' }, alice, own), false);

  const owner = (operator: string, value: string) => ({
    Condition: { [operator]: { 'a:owner': value } },
  });
  assert.equal(
    allowed(owner('StringEquals', '${aws:username}'), alice, own, { 'a:owner': 'alice' }),
    true,
  );
  assert.equal(
    allowed(owner('StringEquals', '${aws:username}'), alice, own, { 'a:owner': 'bob' }),
    false,
  );
  assert.equal(
    allowed(owner('StringNotEquals', '${aws:username}'), alice, own, { 'a:owner': 'alice' }),
    false,
  );
  assert.equal(
    allowed(owner('StringNotEquals', '${aws:username}'), alice, own, { 'a:owner': 'bob' }),
    true,
  );
  assert.equal(
    allowed(owner('StringNotEquals', '${aws:username}'), session, own, { 'a:owner': 'bob' }),
    false,
    'a condition whose variable has no value is false',
  );
  assert.equal(
    allowed(owner('StringLike', 'team-${a:team}'), alice, own, {
      'a:owner': 'team-x',
      'a:team': '*',
    }),
    false,
    'a substituted * is literal',
  );
  assert.equal(
    allowed(owner('StringLike', 'team-${a:team}'), alice, own, {
      'a:owner': 'team-*',
      'a:team': '*',
    }),
    true,
  );
  assert.equal(allowed(owner('StringLike', 'a${*}'), alice, own, { 'a:owner': 'a*' }), true);
  assert.equal(allowed(owner('StringLike', 'a${*}'), alice, own, { 'a:owner': 'ab' }), false);
  assert.equal(allowed(owner('StringEquals', 'a${*}'), alice, own, { 'a:owner': 'a*' }), true);

  const type = (value: string) => ({ Condition: { StringEquals: { 'aws:PrincipalType': value } } });
  assert.equal(allowed(type('User'), alice, own), true);
  assert.equal(allowed(type('AssumedRole'), session, own), true);
  assert.equal(allowed(type('Account'), root, own), true);
  assert.equal(allowed(type('User'), session, own), false);
});

test('key policy statement without Resource matches nothing', () => {
  const policy = keyPolicy({ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'kms:*' });
  assert.equal(
    evaluatePolicies(
      [policy],
      { principal: alice, action: 'kms:Decrypt', resource: '*' },
      'resource',
    ).allowed,
    false,
  );
  const trust = parsePolicy(
    JSON.stringify({
      Statement: { Effect: 'Allow', Principal: { AWS: alice.arn }, Action: 'sts:AssumeRole' },
    }),
    TRUST_POLICY,
  );
  assert.equal(
    evaluatePolicies(
      [trust],
      { principal: alice, action: 'sts:AssumeRole', resource: 'arn:aws:iam::1:role/r' },
      'trust',
    ).allowed,
    true,
  );
});
