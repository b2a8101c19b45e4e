import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TfConfig } from './hcl';
import { dataSources, firstBlock, parseHcl, parseModule, resources } from './hcl';
import type { Rule } from './policy-checks';
import { AWS_RULES, DYNAMODB_ACTIONS, SECRETS_ACTIONS, WITNESS_ACTIONS, docKinds, functionEnvironments, statements } from './policy-checks';

const moduleDir = resolve(import.meta.dirname, '../../infra/terraform/aws');

let aws: TfConfig;
beforeAll(async () => {
  aws = await parseModule(moduleDir);
});

function identityActions(config: TfConfig): string[] {
  const kinds = docKinds(config);
  return [...new Set(statements(config).filter((s) => kinds.get(s.doc) === 'identity').flatMap((s) => s.actions))].sort();
}

describe('aws module: least privilege', () => {
  for (const [name, rule] of Object.entries(AWS_RULES)) {
    it(`${name} holds`, () => {
      expect(rule(aws)).toEqual([]);
    });
  }

  it('grants exactly the expected actions, and the checks have statements to look at', () => {
    expect(identityActions(aws)).toEqual(
      [...SECRETS_ACTIONS, ...DYNAMODB_ACTIONS, ...WITNESS_ACTIONS, 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'logs:CreateLogStream', 'logs:PutLogEvents'].sort(),
    );
  });

  it('every document is used as what it is: one identity policy, one trust policy, one key policy', () => {
    expect([...docKinds(aws).values()].sort()).toEqual(['identity', 'key', 'trust']);
  });

  it('names secrets by the agreed scheme', () => {
    const variable = (name: string) => aws.variable[name]?.[0]?.default;
    expect(variable('secret_prefix')).toBe('keyhold/validators/');
    expect(variable('signing_key_secret_name')).toBe('keyhold/broker/signing-key');
    expect(variable('table_name')).toBe('keyhold-state');
  });

  it('runs arm64 Node 22 with the aws-lambda handler and reserved concurrency', () => {
    const fn = resources(aws, 'aws_lambda_function')[0]?.body;
    expect(fn?.architectures).toEqual(['arm64']);
    expect(fn?.handler).toBe('aws-lambda.handler');
    expect(fn?.runtime).toBe('${var.runtime}');
    expect(aws.variable.runtime?.[0]?.default).toBe('nodejs22.x');
    expect(fn?.reserved_concurrent_executions).toBe('${var.reserved_concurrency}');
  });

  it('exposes a function URL without IAM auth, or an HTTP API with payload format 2.0', () => {
    expect(resources(aws, 'aws_lambda_function_url')[0]?.body.authorization_type).toBe('NONE');
    expect(resources(aws, 'aws_apigatewayv2_integration')[0]?.body.payload_format_version).toBe('2.0');
  });

  it('passes the environment contract, secrets by ARN only', () => {
    const env = functionEnvironments(aws)[0]?.vars ?? {};
    expect(Object.keys(env).sort()).toEqual([
      'KEYHOLD_AWS_KMS_KEY_ID',
      'KEYHOLD_AWS_SECRET_PREFIX',
      'KEYHOLD_CHECKPOINT_WITNESS',
      'KEYHOLD_CHECKPOINT_WITNESS_RETENTION_DAYS',
      'KEYHOLD_CLUSTERS',
      'KEYHOLD_DYNAMODB_TABLE',
      'KEYHOLD_GRANT_TTL_SECONDS',
      'KEYHOLD_KEY_STORES',
      'KEYHOLD_MAX_CLOCK_SKEW_SECONDS',
      'KEYHOLD_OPERATOR_AUDIENCE',
      'KEYHOLD_OPERATOR_ISSUER',
      'KEYHOLD_OPERATOR_JWKS_URI',
      'KEYHOLD_OUTAGE_TOLERANCE_SECONDS',
      'KEYHOLD_RUNTIME',
      'KEYHOLD_SIGNING_KEY_SECRET',
      'KEYHOLD_STATE_STORE',
    ]);
    expect(env).toMatchObject({
      KEYHOLD_RUNTIME: 'aws-lambda',
      KEYHOLD_STATE_STORE: 'dynamodb',
      KEYHOLD_KEY_STORES: 'aws-secrets-manager',
      KEYHOLD_SIGNING_KEY_SECRET: '${aws_secretsmanager_secret.signing_key.arn}',
      KEYHOLD_CLUSTERS: '${jsonencode(var.clusters)}',
      KEYHOLD_CHECKPOINT_WITNESS: 's3://${aws_s3_bucket.ledger_witness.bucket}/${var.witness_prefix}',
    });
  });

  it('creates the log group with a retention, and the trust policy admits only Lambda', () => {
    expect(resources(aws, 'aws_cloudwatch_log_group')[0]?.body.retention_in_days).toBe('${var.log_retention_days}');
    const trust = dataSources(aws, 'aws_iam_policy_document').find((d) => d.name === 'broker_assume_role')?.body;
    const principals = firstBlock(firstBlock(trust ?? {}, 'statement') ?? {}, 'principals');
    expect(principals?.identifiers).toEqual(['lambda.amazonaws.com']);
  });
});

// Each rule must be able to fail: the same checker on a deliberately bad snippet.
const tableAndKey = `
resource "aws_kms_key" "k" {
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.key.json
}
data "aws_iam_policy_document" "key" {
  statement {
    actions   = ["kms:DescribeKey"]
    resources = ["*"]
  }
}
resource "aws_dynamodb_table" "t" {
  deletion_protection_enabled = true
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.k.arn
  }
}
resource "aws_iam_role_policy" "p" {
  policy = data.aws_iam_policy_document.bad.json
}
`;

function withStatement(statement: string): string {
  return `${tableAndKey}
data "aws_iam_policy_document" "bad" {
  statement {
${statement}
  }
}`;
}

const lockedBucket = `
resource "aws_s3_bucket" "w" {
  object_lock_enabled = true
}
resource "aws_s3_bucket_versioning" "w" {
  bucket = aws_s3_bucket.w.id
  versioning_configuration {
    status = "Enabled"
  }
}
resource "aws_s3_bucket_object_lock_configuration" "w" {
  bucket = aws_s3_bucket.w.id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = 1
    }
  }
}
resource "aws_s3_bucket_public_access_block" "w" {
  bucket                  = aws_s3_bucket.w.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
`;

const negatives: [string, string, RegExp][] = [
  ['policiesAreDocuments', 'resource "aws_iam_role_policy" "inline" {\n  policy = jsonencode({ Statement = [] })\n}\nresource "aws_iam_role_policy_attachment" "basic" {\n  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"\n}', /not a data\.aws_iam_policy_document|managed policies/],
  ['noWildcards', withStatement('    actions   = ["dynamodb:*"]\n    resources = ["*"]'), /wildcard action dynamodb:\*/],
  ['noWildcards', withStatement('    actions   = ["*"]\n    resources = [aws_dynamodb_table.t.arn]'), /wildcard action \*/],
  ['noWildcards', withStatement('    actions   = ["dynamodb:GetItem"]\n    resources = ["*"]'), /resource "\*"/],
  ['onlyExpectedServices', withStatement('    actions   = ["sqs:SendMessage"]\n    resources = ["arn:aws:sqs:eu-west-1:000000000000:q"]'), /unexpected service/],
  ['witnessScoped', lockedBucket + withStatement('    actions   = ["s3:PutObject", "s3:DeleteObjectVersion"]\n    resources = ["${aws_s3_bucket.w.arn}/${var.witness_prefix}*"]'), /s3:DeleteObjectVersion is not needed/],
  ['witnessScoped', lockedBucket + withStatement('    actions   = ["s3:BypassGovernanceRetention"]\n    resources = ["${aws_s3_bucket.w.arn}/${var.witness_prefix}*"]'), /BypassGovernanceRetention is not needed/],
  ['witnessScoped', lockedBucket + withStatement('    actions   = ["s3:PutObject"]\n    resources = ["${aws_s3_bucket.w.arn}/*"]'), /not the witness prefix/],
  ['witnessBucketLocked', lockedBucket.replace('object_lock_enabled = true', 'object_lock_enabled = false'), /Object Lock is not enabled/],
  ['witnessBucketLocked', lockedBucket.replace('"COMPLIANCE"', '"GOVERNANCE"'), /not COMPLIANCE mode/],
  ['witnessBucketLocked', lockedBucket.replace('restrict_public_buckets = true', 'restrict_public_buckets = false'), /restrict_public_buckets is not set/],
  ['witnessBucketLocked', lockedBucket.replace('status = "Enabled"', 'status = "Suspended"'), /versioning is not enabled/],
  ['secretsScoped', withStatement('    actions   = ["secretsmanager:GetSecretValue"]\n    resources = ["arn:aws:secretsmanager:eu-west-1:000000000000:secret:*"]'), /neither the validator prefix/],
  ['secretsScoped', withStatement('    actions   = ["secretsmanager:PutSecretValue"]\n    resources = ["arn:${data.aws_partition.current.partition}:secretsmanager:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:secret:${var.secret_prefix}*"]'), /ownership condition/],
  ['secretsScoped', withStatement('    actions   = ["secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue"]\n    resources = [aws_secretsmanager_secret.signing_key.arn]') + '\nresource "aws_secretsmanager_secret" "signing_key" {}', /may only be read/],
  ['secretsScoped', withStatement('    actions   = ["secretsmanager:DeleteSecret"]\n    resources = ["arn:${data.aws_partition.current.partition}:secretsmanager:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:secret:${var.secret_prefix}*"]'), /DeleteSecret is not needed/],
  ['dynamodbScoped', withStatement('    actions   = ["dynamodb:TransactWriteItems"]\n    resources = [aws_dynamodb_table.t.arn]'), /not an IAM action/],
  ['dynamodbScoped', withStatement('    actions   = ["dynamodb:GetItem"]\n    resources = ["arn:aws:dynamodb:eu-west-1:000000000000:table/other"]'), /not the state table/],
  ['kmsScoped', withStatement('    actions   = ["kms:Decrypt"]\n    resources = [aws_kms_key.k.arn]'), /no kms:ViaService condition/],
  ['kmsScoped', withStatement('    actions   = ["kms:Decrypt"]\n    resources = ["arn:aws:kms:eu-west-1:000000000000:key/other"]\n    condition {\n      test     = "StringEquals"\n      variable = "kms:ViaService"\n      values   = ["secretsmanager.eu-west-1.amazonaws.com"]\n    }'), /not the keyhold KMS key/],
  ['kmsScoped', withStatement('    actions   = ["kms:Decrypt"]\n    resources = [aws_kms_key.k.arn]\n    condition {\n      test     = "StringEquals"\n      variable = "kms:ViaService"\n      values   = ["s3.eu-west-1.amazonaws.com"]\n    }'), /is not Secrets Manager or DynamoDB/],
  ['logsScoped', withStatement('    actions   = ["logs:PutLogEvents"]\n    resources = ["arn:aws:logs:eu-west-1:000000000000:log-group:other:*"]'), /not a declared log group/],
  ['logsScoped', withStatement('    actions   = ["logs:CreateLogGroup"]\n    resources = ["${aws_cloudwatch_log_group.g.arn}:*"]') + '\nresource "aws_cloudwatch_log_group" "g" {\n  retention_in_days = 30\n}', /CreateLogGroup is not needed/],
  ['stateTableProtected', 'resource "aws_dynamodb_table" "t" {\n  deletion_protection_enabled = false\n}', /point-in-time recovery is not enabled/],
  ['stateTableProtected', 'resource "aws_dynamodb_table" "t" {\n  deletion_protection_enabled = false\n  point_in_time_recovery {\n    enabled = true\n  }\n}', /deletion protection is not enabled/],
  ['kmsKeyManaged', 'resource "aws_kms_key" "k" {\n  enable_key_rotation = false\n}', /rotation is not enabled/],
  ['publicInvokeScoped', 'resource "aws_lambda_permission" "p" {\n  action    = "lambda:InvokeFunction"\n  principal = "*"\n}', /without function-URL scoping/],
  ['noSecretValues', 'resource "aws_lambda_function" "f" {\n  environment {\n    variables = {\n      KEYHOLD_SIGNING_KEY = "c2VjcmV0"\n    }\n  }\n}', /KEYHOLD_SIGNING_KEY looks like a secret/],
  ['noSecretValues', 'resource "aws_lambda_function" "f" {\n  environment {\n    variables = {\n      VAULT_TOKEN = var.vault_token\n    }\n  }\n}', /VAULT_TOKEN looks like a secret/],
  ['noSecretValues', 'resource "aws_secretsmanager_secret_version" "v" {\n  secret_string = "hunter2"\n}', /set out of band/],
];

describe('aws checks fail on bad snippets', () => {
  for (const [name, hcl, expected] of negatives) {
    it(`${name}: ${expected.source}`, async () => {
      const rule: Rule | undefined = AWS_RULES[name];
      expect(rule).toBeDefined();
      const problems = rule?.(await parseHcl(hcl)) ?? [];
      expect(problems.join('\n')).toMatch(expected);
    });
  }
});
