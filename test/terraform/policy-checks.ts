// Least-privilege rules for infra/terraform, run on parsed HCL. Each rule
// returns the violations it finds (empty means the rule holds) so the tests
// can run it on the real modules and, to prove it can fail, on a bad snippet.
import type { Block, TfConfig } from './hcl';
import { asBlocks, asStrings, dataSources, firstBlock, isBlock, resolveLocals, resources } from './hcl';

export type Rule = (config: TfConfig) => string[];

// ---------------------------------------------------------------------------
// AWS policy documents
// ---------------------------------------------------------------------------

export interface Condition {
  test: string;
  variable: string;
  values: string[];
}

export interface Statement {
  doc: string;
  sid: string;
  effect: string;
  actions: string[];
  notActions: string[];
  resources: string[];
  notResources: string[];
  principals: string[];
  conditions: Condition[];
}

export type DocKind = 'identity' | 'trust' | 'key';

const DOC_REF = /^\$\{data\.aws_iam_policy_document\.([A-Za-z0-9_-]+)\.json\}$/;

function docRef(value: unknown): string | undefined {
  return typeof value === 'string' ? DOC_REF.exec(value)?.[1] : undefined;
}

/** Which document is used how: key policies may say Resource "*" (it means "this key"). */
export function docKinds(config: TfConfig): Map<string, DocKind> {
  const kinds = new Map<string, DocKind>();
  for (const { body } of resources(config, 'aws_kms_key')) {
    const ref = docRef(body.policy);
    if (ref) kinds.set(ref, 'key');
  }
  for (const { body } of resources(config, 'aws_iam_role')) {
    const ref = docRef(body.assume_role_policy);
    if (ref) kinds.set(ref, 'trust');
  }
  for (const { name } of dataSources(config, 'aws_iam_policy_document')) {
    if (!kinds.has(name)) kinds.set(name, 'identity');
  }
  return kinds;
}

export function statements(config: TfConfig): Statement[] {
  return dataSources(config, 'aws_iam_policy_document').flatMap(({ name, body }) =>
    asBlocks(body.statement).map((s): Statement => ({
      doc: name,
      sid: typeof s.sid === 'string' ? s.sid : '(no sid)',
      effect: typeof s.effect === 'string' ? s.effect : 'Allow',
      actions: asStrings(s.actions),
      notActions: asStrings(s.not_actions),
      resources: asStrings(resolveLocals(config, s.resources)),
      notResources: asStrings(s.not_resources),
      principals: asBlocks(s.principals).flatMap((p) => asStrings(resolveLocals(config, p.identifiers))),
      conditions: asBlocks(s.condition).map((c) => ({
        test: typeof c.test === 'string' ? c.test : '',
        variable: String(resolveLocals(config, typeof c.variable === 'string' ? c.variable : '')),
        values: asStrings(resolveLocals(config, c.values)),
      })),
    })),
  );
}

function label(s: Statement): string {
  return `${s.doc}/${s.sid}`;
}

function allowedIdentityStatements(config: TfConfig): Statement[] {
  const kinds = docKinds(config);
  return statements(config).filter((s) => s.effect === 'Allow' && kinds.get(s.doc) === 'identity');
}

function service(action: string): string {
  return action.split(':')[0] ?? action;
}

/** Every policy is a parseable policy document: no jsonencode'd or managed policies the checks cannot see. */
export const policiesAreDocuments: Rule = (config) => {
  const problems: string[] = [];
  const docs = new Set(dataSources(config, 'aws_iam_policy_document').map((d) => d.name));
  const checkRef = (where: string, value: unknown): void => {
    const ref = docRef(value);
    if (ref === undefined) problems.push(`${where} is not a data.aws_iam_policy_document reference: ${JSON.stringify(value)}`);
    else if (!docs.has(ref)) problems.push(`${where} refers to undeclared policy document ${ref}`);
  };
  for (const type of ['aws_iam_role_policy', 'aws_iam_policy', 'aws_kms_key', 'aws_secretsmanager_secret_policy', 'aws_dynamodb_resource_policy']) {
    for (const { name, body } of resources(config, type)) {
      if (body.policy !== undefined || type !== 'aws_kms_key') checkRef(`${type}.${name}.policy`, body.policy);
    }
  }
  for (const { name, body } of resources(config, 'aws_iam_role')) {
    checkRef(`aws_iam_role.${name}.assume_role_policy`, body.assume_role_policy);
    if (body.managed_policy_arns !== undefined) problems.push(`aws_iam_role.${name} attaches managed policies`);
    if (body.inline_policy !== undefined) problems.push(`aws_iam_role.${name} has an inline_policy block`);
  }
  for (const type of ['aws_iam_role_policy_attachment', 'aws_iam_policy_attachment', 'aws_iam_role_policies_exclusive']) {
    for (const { name } of resources(config, type)) problems.push(`${type}.${name}: managed policies cannot be checked here`);
  }
  return problems;
};

/** No "*" or "service:*" action, no NotAction/NotResource, no "*" principal, no "*" resource outside key policies. */
export const noWildcards: Rule = (config) => {
  const kinds = docKinds(config);
  const problems: string[] = [];
  for (const s of statements(config)) {
    if (s.effect !== 'Allow') continue;
    for (const a of s.actions) {
      if (a === '*' || /^[a-z0-9-]+:\*$/i.test(a)) problems.push(`${label(s)}: wildcard action ${a}`);
    }
    if (s.notActions.length > 0) problems.push(`${label(s)}: NotAction allows everything else`);
    if (s.notResources.length > 0) problems.push(`${label(s)}: NotResource allows everything else`);
    for (const p of s.principals) if (p === '*') problems.push(`${label(s)}: principal "*"`);
    if (kinds.get(s.doc) !== 'key') {
      for (const r of s.resources) if (r === '*') problems.push(`${label(s)}: resource "*"`);
    }
    if (kinds.get(s.doc) === 'identity' && s.resources.length === 0) problems.push(`${label(s)}: no resources`);
  }
  return problems;
};

/** The broker role touches only the services it needs. */
export const onlyExpectedServices: Rule = (config) =>
  allowedIdentityStatements(config).flatMap((s) =>
    s.actions
      .filter((a) => !['secretsmanager', 'dynamodb', 'kms', 'logs', 's3'].includes(service(a)))
      .map((a) => `${label(s)}: unexpected service in ${a}`),
  );

export const SECRETS_ACTIONS = [
  'secretsmanager:CreateSecret',
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
  'secretsmanager:ListSecretVersionIds',
  'secretsmanager:PutSecretValue',
  'secretsmanager:TagResource',
  'secretsmanager:UpdateSecretVersionStage',
];
const SECRET_WRITES = ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage'];
const SECRET_CREATES = ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'];
// arn:<partition>:secretsmanager:<region>:<account>:secret:${var.secret_prefix}*
// where each part is an expression or literal without '*' or ':'.
const VALIDATOR_SECRET_ARN = /^arn:[^*:]+:secretsmanager:[^*:]+:[^*:]+:secret:\$\{var\.secret_prefix\}\*$/;
const SECRET_ARN_REF = /^\$\{aws_secretsmanager_secret\.([A-Za-z0-9_-]+)\.arn\}$/;

function hasCondition(s: Statement, variable: string, value: string): boolean {
  return s.conditions.some((c) => c.test === 'StringEquals' && c.variable === variable && c.values.length === 1 && c.values[0] === value);
}

/**
 * Secrets Manager: validator secrets by prefix ARN, writes only on secrets
 * carrying the ownership tag, creation only with it, and the signing key
 * read-only.
 */
export const secretsScoped: Rule = (config) => {
  const problems: string[] = [];
  const secrets = new Map(resources(config, 'aws_secretsmanager_secret').map((r) => [r.name, r.body]));
  for (const s of allowedIdentityStatements(config)) {
    const actions = s.actions.filter((a) => service(a) === 'secretsmanager');
    if (actions.length === 0) continue;
    for (const a of actions) if (!SECRETS_ACTIONS.includes(a)) problems.push(`${label(s)}: ${a} is not needed`);
    if (actions.length !== s.actions.length) problems.push(`${label(s)}: mixes Secrets Manager with other services`);
    for (const r of s.resources) {
      const ref = SECRET_ARN_REF.exec(r)?.[1];
      if (ref !== undefined) {
        if (!secrets.has(ref)) problems.push(`${label(s)}: unknown secret ${r}`);
        const readOnly = actions.every((a) => a === 'secretsmanager:GetSecretValue');
        if (!readOnly) problems.push(`${label(s)}: the signing key ${r} may only be read (GetSecretValue)`);
      } else if (!VALIDATOR_SECRET_ARN.test(r)) {
        problems.push(`${label(s)}: resource ${r} is neither the validator prefix ARN nor a declared secret`);
      }
    }
    if (actions.some((a) => SECRET_WRITES.includes(a)) && !hasCondition(s, 'aws:ResourceTag/keyhold:owner', 'keyhold')) {
      problems.push(`${label(s)}: writes without the ownership condition aws:ResourceTag/keyhold:owner = keyhold`);
    }
    if (actions.some((a) => SECRET_CREATES.includes(a)) && !hasCondition(s, 'aws:RequestTag/keyhold:owner', 'keyhold')) {
      problems.push(`${label(s)}: creates or tags without the ownership condition aws:RequestTag/keyhold:owner = keyhold`);
    }
  }
  return problems;
};

export const DYNAMODB_ACTIONS = [
  'dynamodb:BatchGetItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
];
const TABLE_ARN = /^\$\{aws_dynamodb_table\.([A-Za-z0-9_-]+)\.arn\}(\/index\/\*)?$/;

/** DynamoDB: the item-level actions a transactional CAS needs, on the table and its indexes only. */
export const dynamodbScoped: Rule = (config) => {
  const problems: string[] = [];
  const tables = new Set(resources(config, 'aws_dynamodb_table').map((t) => t.name));
  for (const s of allowedIdentityStatements(config)) {
    const actions = s.actions.filter((a) => service(a) === 'dynamodb');
    if (actions.length === 0) continue;
    for (const a of actions) {
      if (a === 'dynamodb:TransactWriteItems' || a === 'dynamodb:TransactGetItems') {
        problems.push(`${label(s)}: ${a} is not an IAM action; transactions are authorised per item`);
      } else if (!DYNAMODB_ACTIONS.includes(a)) problems.push(`${label(s)}: ${a} is not needed`);
    }
    if (actions.length !== s.actions.length) problems.push(`${label(s)}: mixes DynamoDB with other services`);
    for (const r of s.resources) {
      const table = TABLE_ARN.exec(r)?.[1];
      if (table === undefined || !tables.has(table)) problems.push(`${label(s)}: resource ${r} is not the state table or its indexes`);
    }
  }
  return problems;
};

const KEY_ARN = /^\$\{aws_kms_key\.([A-Za-z0-9_-]+)\.arn\}$/;

/** KMS: encrypt/decrypt on the one key, only through Secrets Manager or DynamoDB. */
export const kmsScoped: Rule = (config) => {
  const problems: string[] = [];
  const keys = resources(config, 'aws_kms_key').map((k) => k.name);
  if (keys.length > 1) problems.push(`expected one KMS key, found ${keys.join(', ')}`);
  for (const s of allowedIdentityStatements(config)) {
    const actions = s.actions.filter((a) => service(a) === 'kms');
    if (actions.length === 0) continue;
    for (const a of actions) {
      if (!['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'].includes(a)) problems.push(`${label(s)}: ${a} is not needed`);
    }
    if (actions.length !== s.actions.length) problems.push(`${label(s)}: mixes KMS with other services`);
    for (const r of s.resources) {
      const key = KEY_ARN.exec(r)?.[1];
      if (key === undefined || !keys.includes(key)) problems.push(`${label(s)}: resource ${r} is not the keyhold KMS key`);
    }
    const via = s.conditions.find((c) => c.variable === 'kms:ViaService' && c.test === 'StringEquals');
    if (!via || via.values.length === 0) problems.push(`${label(s)}: no kms:ViaService condition`);
    else {
      for (const v of via.values) {
        if (!/^(secretsmanager|dynamodb)\.(\$\{[^}]+\}|[a-z0-9-]+)\.amazonaws\.com$/.test(v)) problems.push(`${label(s)}: kms:ViaService ${v} is not Secrets Manager or DynamoDB`);
      }
    }
  }
  return problems;
};

const LOG_GROUP_ARN = /^\$\{aws_cloudwatch_log_group\.([A-Za-z0-9_-]+)\.arn\}(:\*)?$/;

/** Logs: write to the function's own log group, which Terraform creates with a retention. */
export const logsScoped: Rule = (config) => {
  const problems: string[] = [];
  const groups = new Map(resources(config, 'aws_cloudwatch_log_group').map((g) => [g.name, g.body]));
  const functionGroups = new Set(
    resources(config, 'aws_lambda_function').flatMap(({ body }) =>
      asStrings(firstBlock(body, 'logging_config')?.log_group).map((g) => /^\$\{aws_cloudwatch_log_group\.([A-Za-z0-9_-]+)\.name\}$/.exec(g)?.[1]),
    ),
  );
  for (const s of allowedIdentityStatements(config)) {
    const actions = s.actions.filter((a) => service(a) === 'logs');
    if (actions.length === 0) continue;
    for (const a of actions) {
      if (!['logs:CreateLogStream', 'logs:PutLogEvents'].includes(a)) problems.push(`${label(s)}: ${a} is not needed (the log group is created by Terraform)`);
    }
    for (const r of s.resources) {
      const group = LOG_GROUP_ARN.exec(r)?.[1];
      if (group === undefined || !groups.has(group)) problems.push(`${label(s)}: resource ${r} is not a declared log group`);
      else if (!functionGroups.has(group)) problems.push(`${label(s)}: log group ${group} is not the function's (logging_config.log_group)`);
      else if (typeof groups.get(group)?.retention_in_days !== 'number' && typeof groups.get(group)?.retention_in_days !== 'string') {
        problems.push(`${label(s)}: log group ${group} has no retention`);
      }
    }
  }
  return problems;
};

export const WITNESS_ACTIONS = ['s3:PutObject', 's3:PutObjectRetention'];
const WITNESS_OBJECTS = /^\$\{aws_s3_bucket\.([A-Za-z0-9_-]+)\.arn\}\/\$\{var\.witness_prefix\}\*$/;

/** S3 only to create checkpoint copies (with their retention) under the witness prefix of a declared bucket: never delete, bypass or unlock. */
export const witnessScoped: Rule = (config) => {
  const buckets = new Set(resources(config, 'aws_s3_bucket').map((b) => b.name));
  return allowedIdentityStatements(config)
    .filter((s) => s.actions.some((a) => service(a) === 's3'))
    .flatMap((s) => [
      ...s.actions.filter((a) => !WITNESS_ACTIONS.includes(a)).map((a) => `${label(s)}: ${a} is not needed to write checkpoint copies`),
      ...s.resources.filter((r) => !buckets.has(WITNESS_OBJECTS.exec(r)?.[1] ?? '')).map((r) => `${label(s)}: ${r} is not the witness prefix of a declared bucket`),
    ]);
};

/** Every S3 bucket is a witness that holds: Object Lock in COMPLIANCE mode by default, versioned, never public. */
export const witnessBucketLocked: Rule = (config) => {
  const buckets = resources(config, 'aws_s3_bucket');
  if (buckets.length === 0) return ['no aws_s3_bucket declared for the witness'];
  const forBucket = (type: string, name: string) => resources(config, type).find((r) => r.body.bucket === `\${aws_s3_bucket.${name}.id}`)?.body;
  return buckets.flatMap(({ name, body }) => {
    const problems: string[] = [];
    if (body.object_lock_enabled !== true) problems.push(`aws_s3_bucket.${name}: Object Lock is not enabled`);
    if (body.force_destroy === true) problems.push(`aws_s3_bucket.${name}: force_destroy`);
    const lock = firstBlock(firstBlock(forBucket('aws_s3_bucket_object_lock_configuration', name) ?? {}, 'rule') ?? {}, 'default_retention');
    if (lock?.mode !== 'COMPLIANCE') problems.push(`aws_s3_bucket.${name}: default retention is not COMPLIANCE mode`);
    if (firstBlock(forBucket('aws_s3_bucket_versioning', name) ?? {}, 'versioning_configuration')?.status !== 'Enabled') problems.push(`aws_s3_bucket.${name}: versioning is not enabled`);
    const pab = forBucket('aws_s3_bucket_public_access_block', name);
    for (const k of ['block_public_acls', 'block_public_policy', 'ignore_public_acls', 'restrict_public_buckets']) if (pab?.[k] !== true) problems.push(`aws_s3_bucket.${name}: ${k} is not set`);
    return problems;
  });
};

/** The state table survives mistakes: point-in-time recovery, deletion protection, encryption with the keyhold key. */
export const stateTableProtected: Rule = (config) => {
  const tables = resources(config, 'aws_dynamodb_table');
  if (tables.length === 0) return ['no aws_dynamodb_table declared'];
  return tables.flatMap(({ name, body }) => {
    const problems: string[] = [];
    if (firstBlock(body, 'point_in_time_recovery')?.enabled !== true) problems.push(`aws_dynamodb_table.${name}: point-in-time recovery is not enabled`);
    if (body.deletion_protection_enabled !== true) problems.push(`aws_dynamodb_table.${name}: deletion protection is not enabled`);
    const sse = firstBlock(body, 'server_side_encryption');
    if (sse?.enabled !== true || typeof sse.kms_key_arn !== 'string' || !KEY_ARN.test(sse.kms_key_arn)) {
      problems.push(`aws_dynamodb_table.${name}: not encrypted with the keyhold KMS key`);
    }
    return problems;
  });
};

/** The KMS key rotates and has an explicit key policy. */
export const kmsKeyManaged: Rule = (config) => {
  const keys = resources(config, 'aws_kms_key');
  if (keys.length === 0) return ['no aws_kms_key declared'];
  return keys.flatMap(({ name, body }) => [
    ...(body.enable_key_rotation === true ? [] : [`aws_kms_key.${name}: rotation is not enabled`]),
    ...(docRef(body.policy) ? [] : [`aws_kms_key.${name}: no key policy document`]),
  ]);
};

/** "*" may invoke the function only through its URL, scoped by the auth-type and via-URL conditions. */
export const publicInvokeScoped: Rule = (config) =>
  resources(config, 'aws_lambda_permission').flatMap(({ name, body }) => {
    if (body.principal !== '*') return [];
    if (body.action === 'lambda:InvokeFunctionUrl' && body.function_url_auth_type === 'NONE') return [];
    if (body.action === 'lambda:InvokeFunction' && body.invoked_via_function_url === true) return [];
    return [`aws_lambda_permission.${name}: principal "*" without function-URL scoping`];
  });

// ---------------------------------------------------------------------------
// Function environments (both clouds)
// ---------------------------------------------------------------------------

/** Names that suggest a secret value. */
export const SECRETISH_NAME = /(_KEY|_SECRET)$|PASSWORD|PASSPHRASE|TOKEN|CREDENTIAL|PRIVATE/;
/** The only values such a variable may hold: the name, ARN or id of a secret resource. */
const SECRET_RESOURCE_REF = /^\$\{(aws_secretsmanager_secret|google_secret_manager_secret)\.[A-Za-z0-9_-]+\.(arn|id|name|secret_id)\}$/;
const LOOKS_LIKE_KEY_MATERIAL = /-----BEGIN|"d"\s*:|PRIVATE KEY/;

export function functionEnvironments(config: TfConfig): { where: string; vars: Record<string, unknown> }[] {
  const envs: { where: string; vars: Record<string, unknown> }[] = [];
  for (const { name, body } of resources(config, 'aws_lambda_function')) {
    const vars = firstBlock(body, 'environment')?.variables;
    envs.push({ where: `aws_lambda_function.${name}`, vars: isBlock(vars) ? vars : {} });
  }
  for (const { name, body } of resources(config, 'google_cloudfunctions2_function')) {
    const service = firstBlock(body, 'service_config');
    const build = firstBlock(body, 'build_config');
    const vars = { ...(isBlock(build?.environment_variables) ? build.environment_variables : {}), ...(isBlock(service?.environment_variables) ? service.environment_variables : {}) };
    envs.push({ where: `google_cloudfunctions2_function.${name}`, vars });
  }
  return envs;
}

/** No secret values in Terraform: not in function environments, not as secret versions. */
export const noSecretValues: Rule = (config) => {
  const problems: string[] = [];
  for (const { where, vars } of functionEnvironments(config)) {
    for (const [key, raw] of Object.entries(vars)) {
      const value = typeof raw === 'string' ? raw : JSON.stringify(raw);
      if (SECRETISH_NAME.test(key) && !SECRET_RESOURCE_REF.test(value)) {
        problems.push(`${where}: ${key} looks like a secret and is not a reference to a secret's name or ARN (${value})`);
      }
      if (LOOKS_LIKE_KEY_MATERIAL.test(value)) problems.push(`${where}: ${key} holds what looks like key material`);
    }
  }
  for (const type of ['aws_secretsmanager_secret_version', 'google_secret_manager_secret_version']) {
    for (const { name } of resources(config, type)) problems.push(`${type}.${name}: secret values must be set out of band`);
  }
  return problems;
};

// ---------------------------------------------------------------------------
// GCP IAM
// ---------------------------------------------------------------------------

export interface Grant {
  resource: string;
  role: string;
  member: string;
  /** The condition expression, with locals resolved; from a static or a dynamic block. */
  condition: string | undefined;
  scope: 'project' | 'secret' | 'other';
  secretId: string | undefined;
}

const MEMBER_TYPES = ['google_project_iam_member', 'google_secret_manager_secret_iam_member', 'google_cloud_run_service_iam_member', 'google_cloud_run_v2_service_iam_member', 'google_cloudfunctions2_function_iam_member', 'google_storage_bucket_iam_member'];
const AUTHORITATIVE_TYPES = ['google_project_iam_binding', 'google_project_iam_policy', 'google_secret_manager_secret_iam_binding', 'google_secret_manager_secret_iam_policy'];

function conditionOf(config: TfConfig, body: Block): string | undefined {
  const direct = firstBlock(body, 'condition')?.expression;
  const dynamicCondition = firstBlock(asBlocks(firstBlock(body, 'dynamic')?.condition)[0] ?? {}, 'content')?.expression;
  const expression = direct ?? dynamicCondition;
  const resolved = resolveLocals(config, expression);
  return typeof resolved === 'string' ? resolved : undefined;
}

function resolvedString(config: TfConfig, value: unknown): string {
  const resolved = resolveLocals(config, value);
  return typeof resolved === 'string' ? resolved : JSON.stringify(resolved);
}

export function grants(config: TfConfig): Grant[] {
  return MEMBER_TYPES.flatMap((type) =>
    resources(config, type).map(({ name, body }): Grant => ({
      resource: `${type}.${name}`,
      role: resolvedString(config, body.role),
      member: resolvedString(config, body.member),
      condition: conditionOf(config, body),
      scope: type === 'google_project_iam_member' ? 'project' : type === 'google_secret_manager_secret_iam_member' ? 'secret' : 'other',
      secretId: typeof body.secret_id === 'string' ? body.secret_id : undefined,
    })),
  );
}

const SA_MEMBER = /^serviceAccount:\$\{google_service_account\.([A-Za-z0-9_-]+)\.email\}$/;

export function serviceAccountGrants(config: TfConfig): Grant[] {
  return grants(config).filter((g) => SA_MEMBER.test(g.member));
}

const CUSTOM_ROLE_REF = /^\$\{google_project_iam_custom_role\.([A-Za-z0-9_-]+)\.(id|name)\}$/;

function isSecretRole(config: TfConfig, role: string): boolean {
  if (role.startsWith('roles/secretmanager.')) return true;
  const custom = CUSTOM_ROLE_REF.exec(role)?.[1];
  if (custom === undefined) return false;
  const body = resources(config, 'google_project_iam_custom_role').find((r) => r.name === custom)?.body;
  return asStrings(body?.permissions).some((p) => p.startsWith('secretmanager.'));
}

/** No owner, editor, viewer, admin or IAM-management roles, and no authoritative bindings that would wipe others' grants. */
export const gcpNoBroadRoles: Rule = (config) => {
  const problems: string[] = [];
  for (const g of grants(config)) {
    if (/^roles\/(owner|editor|viewer)$/.test(g.role) || /\.admin$/.test(g.role) || /^roles\/(iam|resourcemanager)\./.test(g.role)) {
      problems.push(`${g.resource}: broad role ${g.role}`);
    }
    if (/^(allUsers|allAuthenticatedUsers)$/.test(g.member) && !['roles/run.invoker', 'roles/cloudfunctions.invoker'].includes(g.role)) {
      problems.push(`${g.resource}: ${g.member} granted ${g.role}; the public may only invoke`);
    }
  }
  for (const type of AUTHORITATIVE_TYPES) {
    for (const { name } of resources(config, type)) problems.push(`${type}.${name}: authoritative binding`);
  }
  return problems;
};

// resource.name.startsWith("projects/<number>/secrets/${var.secret_prefix}"), and nothing else.
const SECRET_PREFIX_CONDITION = /^resource\.name\.startsWith\("projects\/\$\{data\.google_project\.[A-Za-z0-9_-]+\.number\}\/secrets\/\$\{var\.secret_prefix\}"\)$/;

/** Secret Manager roles on the project only with the validator-prefix condition; on a secret, only reading the signing key. */
export const gcpSecretGrantsScoped: Rule = (config) => {
  const problems: string[] = [];
  const secrets = new Map(resources(config, 'google_secret_manager_secret').map((s) => [s.name, s.body]));
  for (const g of grants(config)) {
    if (g.scope === 'project' && isSecretRole(config, g.role)) {
      if (g.condition === undefined) problems.push(`${g.resource}: ${g.role} on the project without a condition`);
      else if (!SECRET_PREFIX_CONDITION.test(g.condition)) problems.push(`${g.resource}: condition is not exactly the validator-prefix startsWith: ${g.condition}`);
    }
    if (g.scope === 'secret') {
      const ref = /^\$\{google_secret_manager_secret\.([A-Za-z0-9_-]+)\.secret_id\}$/.exec(g.secretId ?? '')?.[1];
      const secret = ref === undefined ? undefined : secrets.get(ref);
      if (secret === undefined) problems.push(`${g.resource}: not granted on a declared secret`);
      else if (secret.secret_id !== '${var.signing_key_secret_id}') problems.push(`${g.resource}: per-secret grants are for the signing key only`);
      if (g.role !== 'roles/secretmanager.secretAccessor') problems.push(`${g.resource}: the signing key may only be read, not ${g.role}`);
    }
  }
  return problems;
};

export const CUSTOM_ROLE_PERMISSIONS = [
  'secretmanager.secrets.get',
  'secretmanager.secrets.update',
  'secretmanager.versions.get',
  'secretmanager.versions.list',
];

export const WITNESS_ROLE_PERMISSIONS = ['storage.buckets.get', 'storage.objects.create'];

/** Custom roles hold only what the key store (secret metadata) or the witness (create, read the bucket's lock) needs. */
export const gcpCustomRolesMinimal: Rule = (config) =>
  resources(config, 'google_project_iam_custom_role').flatMap(({ name, body }) => {
    const perms = asStrings(body.permissions);
    const allowed = perms.some((p) => p.startsWith('storage.')) ? WITNESS_ROLE_PERMISSIONS : CUSTOM_ROLE_PERMISSIONS;
    return perms.filter((p) => !allowed.includes(p)).map((p) => `google_project_iam_custom_role.${name}: permission ${p} is not needed`);
  });

/** Storage: only the witness role, only on a bucket whose retention policy is locked and which is never public. */
export const gcpWitnessScoped: Rule = (config) => {
  const buckets = new Map(resources(config, 'google_storage_bucket').map((b) => [b.name, b.body]));
  const problems: string[] = [];
  for (const g of grants(config).filter((x) => x.resource.startsWith('google_storage_bucket_iam_member.'))) {
    const custom = CUSTOM_ROLE_REF.exec(g.role)?.[1];
    const perms = asStrings(resources(config, 'google_project_iam_custom_role').find((r) => r.name === custom)?.body.permissions);
    if (custom === undefined || perms.some((p) => !WITNESS_ROLE_PERMISSIONS.includes(p))) problems.push(`${g.resource}: ${g.role} is more than creating checkpoint copies`);
    const member = resources(config, 'google_storage_bucket_iam_member').find((r) => `google_storage_bucket_iam_member.${r.name}` === g.resource)?.body;
    const bucket = buckets.get(/^\$\{google_storage_bucket\.([A-Za-z0-9_-]+)\.name\}$/.exec(String(member?.bucket))?.[1] ?? '');
    if (!bucket) {
      problems.push(`${g.resource}: not on a declared bucket`);
      continue;
    }
    if (firstBlock(bucket, 'retention_policy')?.is_locked !== true) problems.push(`${g.resource}: the bucket's retention policy is not locked`);
    if (bucket.public_access_prevention !== 'enforced') problems.push(`${g.resource}: the bucket may be made public`);
  }
  for (const g of grants(config)) if (/^roles\/storage\./.test(g.role)) problems.push(`${g.resource}: predefined storage role ${g.role}`);
  return problems;
};

/** Firestore: datastore.user is project-level only, so it must be conditioned on the keyhold database. */
export const gcpFirestoreGrantScoped: Rule = (config) =>
  grants(config)
    .filter((g) => g.role === 'roles/datastore.user' || g.role.startsWith('roles/datastore.'))
    .flatMap((g) => {
      if (g.role !== 'roles/datastore.user') return [`${g.resource}: ${g.role} is more than the broker needs`];
      if (g.condition === undefined || !/^resource\.name == "projects\/\$\{var\.project_id\}\/databases\/\$\{google_firestore_database\.[A-Za-z0-9_-]+\.name\}"$/.test(g.condition)) {
        return [`${g.resource}: roles/datastore.user is not conditioned on the keyhold database`];
      }
      return [];
    });

/** The state database survives mistakes: point-in-time recovery and delete protection. */
export const gcpDatabaseProtected: Rule = (config) => {
  const dbs = resources(config, 'google_firestore_database');
  if (dbs.length === 0) return ['no google_firestore_database declared'];
  return dbs.flatMap(({ name, body }) => [
    ...(body.point_in_time_recovery_enablement === 'POINT_IN_TIME_RECOVERY_ENABLED' ? [] : [`google_firestore_database.${name}: point-in-time recovery is not enabled`]),
    ...(body.delete_protection_state === 'DELETE_PROTECTION_ENABLED' ? [] : [`google_firestore_database.${name}: delete protection is not enabled`]),
    ...(body.type === 'FIRESTORE_NATIVE' ? [] : [`google_firestore_database.${name}: not native mode`]),
  ]);
};

export const AWS_RULES: Record<string, Rule> = {
  policiesAreDocuments,
  noWildcards,
  onlyExpectedServices,
  secretsScoped,
  dynamodbScoped,
  kmsScoped,
  logsScoped,
  stateTableProtected,
  witnessScoped,
  witnessBucketLocked,
  kmsKeyManaged,
  publicInvokeScoped,
  noSecretValues,
};

export const GCP_RULES: Record<string, Rule> = {
  gcpNoBroadRoles,
  gcpSecretGrantsScoped,
  gcpCustomRolesMinimal,
  gcpWitnessScoped,
  gcpFirestoreGrantScoped,
  gcpDatabaseProtected,
  noSecretValues,
};
