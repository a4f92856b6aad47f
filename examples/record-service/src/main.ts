// Start the record service from environment variables:
//
//   VELLUM_ENDPOINT   Vellum's endpoint (default http://127.0.0.1:8600)
//   AWS_REGION        region of the endpoint (default us-east-1)
//   STAGE             the stage (default dev); the ledger is qldb-kms-ledger-<stage>
//   CREATE_ROLE_ARN   role for POST /<stage>/record
//   GET_ROLE_ARN      role for GET /<stage>/record/<id>
//   PORT              port on 127.0.0.1 (default 3000)
//   MAX_CONCURRENT_TRANSACTIONS
//                     sessions each driver pools (default 10)
//
// The service assumes both roles with the credentials of the AWS profile or
// environment it runs with, such as the `vellum` profile that `vellum serve`
// writes.
import { STSClient } from '@aws-sdk/client-sts';
import { createRecordService } from './record-service.js';
import { roleCredentials } from './role-credentials.js';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set; see examples/record-service/README.md for the variables`);
  }
  return value;
}

const endpoint = process.env.VELLUM_ENDPOINT ?? 'http://127.0.0.1:8600';
const region = process.env.AWS_REGION ?? 'us-east-1';
const stage = process.env.STAGE ?? 'dev';
const port = Number(process.env.PORT ?? 3000);
// An empty variable counts as unset.
const poolSize = Number(process.env.MAX_CONCURRENT_TRANSACTIONS || 10);
if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 50) {
  throw new Error(
    `MAX_CONCURRENT_TRANSACTIONS must be an integer from 1 to 50 (the SDK's sockets per client), got ${JSON.stringify(process.env.MAX_CONCURRENT_TRANSACTIONS)}`,
  );
}
const sts = new STSClient({ endpoint, region });

const service = createRecordService({
  stage,
  ledgerName: `qldb-kms-ledger-${stage}`,
  endpoint,
  region,
  maxConcurrentTransactions: poolSize,
  createCredentials: roleCredentials({
    roleArn: required('CREATE_ROLE_ARN'),
    sessionName: `create-record-${stage}`,
    sts,
  }),
  getCredentials: roleCredentials({
    roleArn: required('GET_ROLE_ARN'),
    sessionName: `get-record-${stage}`,
    sts,
  }),
});
service.server.listen(port, '127.0.0.1', () => {
  const address = service.server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  console.log(`record service for stage ${stage} on http://127.0.0.1:${bound}/${stage}/record`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void service.close());
}
