import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TfConfig } from './hcl';
import { firstBlock, parseHcl, parseModule, resources } from './hcl';
import type { Rule } from './policy-checks';
import { CUSTOM_ROLE_PERMISSIONS, GCP_RULES, WITNESS_ROLE_PERMISSIONS, functionEnvironments, grants, serviceAccountGrants } from './policy-checks';

const moduleDir = resolve(import.meta.dirname, '../../infra/terraform/gcp');

let gcp: TfConfig;
beforeAll(async () => {
  gcp = await parseModule(moduleDir);
});

const PREFIX_CONDITION = 'resource.name.startsWith("projects/${data.google_project.this.number}/secrets/${var.secret_prefix}")';

describe('gcp module: least privilege', () => {
  for (const [name, rule] of Object.entries(GCP_RULES)) {
    it(`${name} holds`, () => {
      expect(rule(gcp)).toEqual([]);
    });
  }

  it("the service account's roles are exactly the expected set", () => {
    const actual = serviceAccountGrants(gcp)
      .map((g) => `${g.scope} ${g.role} ${g.condition ?? '(unconditioned)'}`)
      .sort();
    expect(actual).toEqual(
      [
        `project roles/secretmanager.secretAccessor ${PREFIX_CONDITION}`,
        `project roles/secretmanager.secretVersionAdder ${PREFIX_CONDITION}`,
        `project \${google_project_iam_custom_role.secret_metadata.id} ${PREFIX_CONDITION}`,
        'project roles/datastore.user resource.name == "projects/${var.project_id}/databases/${google_firestore_database.state.name}"',
        'secret roles/secretmanager.secretAccessor (unconditioned)',
        'other ${google_project_iam_custom_role.witness_writer.id} (unconditioned)',
      ].sort(),
    );
  });

  it('the custom role holds exactly the metadata permissions', () => {
    const role = (name: string) => resources(gcp, 'google_project_iam_custom_role').find((r) => r.name === name)?.body.permissions;
    expect(role('secret_metadata')).toEqual(CUSTOM_ROLE_PERMISSIONS);
    expect(role('witness_writer')).toEqual(WITNESS_ROLE_PERMISSIONS);
  });

  it('the public may only invoke, and only when public_invoker is set', () => {
    const publicGrants = grants(gcp).filter((g) => g.member === 'allUsers');
    expect(publicGrants.map((g) => g.role)).toEqual(['roles/run.invoker']);
    expect(resources(gcp, 'google_cloud_run_service_iam_member')[0]?.body.count).toBe('${var.public_invoker ? 1 : 0}');
  });

  it('names secrets by the agreed scheme', () => {
    expect(gcp.variable.secret_prefix?.[0]?.default).toBe('keyhold-validators-');
    expect(gcp.variable.signing_key_secret_id?.[0]?.default).toBe('keyhold-broker-signing-key');
  });

  it('runs nodejs22 with the keyhold entry point, its own service account and bounded instances', () => {
    const fn = resources(gcp, 'google_cloudfunctions2_function')[0]?.body ?? {};
    expect(firstBlock(fn, 'build_config')).toMatchObject({ runtime: 'nodejs22', entry_point: 'keyhold' });
    expect(firstBlock(fn, 'service_config')).toMatchObject({
      service_account_email: '${google_service_account.broker.email}',
      max_instance_count: '${var.max_instance_count}',
      ingress_settings: '${var.ingress_settings}',
    });
  });

  it('passes the environment contract, secrets by resource name only', () => {
    const env = functionEnvironments(gcp)[0]?.vars ?? {};
    expect(Object.keys(env).sort()).toEqual([
      'KEYHOLD_CHECKPOINT_WITNESS',
      'KEYHOLD_CLUSTERS',
      'KEYHOLD_FIRESTORE_DATABASE',
      'KEYHOLD_GCP_PROJECT',
      'KEYHOLD_GCP_SECRET_PREFIX',
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
      KEYHOLD_RUNTIME: 'gcp-functions',
      KEYHOLD_STATE_STORE: 'firestore',
      KEYHOLD_KEY_STORES: 'gcp-secret-manager',
      KEYHOLD_SIGNING_KEY_SECRET: '${google_secret_manager_secret.signing_key.id}',
    });
  });
});

const sa = 'resource "google_service_account" "sa" {}\n';
const witnessGrant = (bucket: string, permissions: string) => `${sa}resource "google_storage_bucket" "w" {
${bucket}
}
resource "google_project_iam_custom_role" "r" {
  permissions = ${permissions}
}
resource "google_storage_bucket_iam_member" "m" {
  bucket = google_storage_bucket.w.name
  role   = google_project_iam_custom_role.r.id
  member = "serviceAccount:\${google_service_account.sa.email}"
}`;
const lockedBucket = '  public_access_prevention = "enforced"\n  retention_policy {\n    is_locked        = true\n    retention_period = 86400\n  }';
const negatives: [string, string, RegExp][] = [
  ['gcpNoBroadRoles', `${sa}resource "google_project_iam_member" "m" {\n  role   = "roles/editor"\n  member = "serviceAccount:\${google_service_account.sa.email}"\n}`, /broad role roles\/editor/],
  ['gcpNoBroadRoles', `${sa}resource "google_project_iam_member" "m" {\n  role   = "roles/secretmanager.admin"\n  member = "serviceAccount:\${google_service_account.sa.email}"\n}`, /broad role roles\/secretmanager\.admin/],
  ['gcpNoBroadRoles', 'resource "google_project_iam_binding" "b" {\n  role    = "roles/datastore.user"\n  members = []\n}', /authoritative binding/],
  ['gcpNoBroadRoles', 'resource "google_cloud_run_service_iam_member" "m" {\n  role   = "roles/run.developer"\n  member = "allUsers"\n}', /the public may only invoke/],
  ['gcpSecretGrantsScoped', `${sa}resource "google_project_iam_member" "m" {\n  role   = "roles/secretmanager.secretAccessor"\n  member = "serviceAccount:\${google_service_account.sa.email}"\n}`, /without a condition/],
  ['gcpSecretGrantsScoped', `${sa}resource "google_project_iam_member" "m" {\n  role   = "roles/secretmanager.secretAccessor"\n  member = "serviceAccount:\${google_service_account.sa.email}"\n  condition {\n    title      = "wide"\n    expression = "resource.name.startsWith(\\"projects/\${data.google_project.this.number}/secrets/\\")"\n  }\n}`, /not exactly the validator-prefix/],
  ['gcpSecretGrantsScoped', `${sa}resource "google_project_iam_member" "m" {\n  role   = "roles/secretmanager.secretAccessor"\n  member = "serviceAccount:\${google_service_account.sa.email}"\n  condition {\n    title      = "or"\n    expression = "resource.name.startsWith(\\"projects/\${data.google_project.this.number}/secrets/\${var.secret_prefix}\\") || true"\n  }\n}`, /not exactly the validator-prefix/],
  ['gcpSecretGrantsScoped', 'resource "google_secret_manager_secret" "signing_key" {\n  secret_id = var.signing_key_secret_id\n}\nresource "google_secret_manager_secret_iam_member" "m" {\n  secret_id = google_secret_manager_secret.signing_key.secret_id\n  role      = "roles/secretmanager.secretVersionAdder"\n  member    = "allUsers"\n}', /may only be read/],
  ['gcpCustomRolesMinimal', 'resource "google_project_iam_custom_role" "r" {\n  permissions = ["secretmanager.secrets.get", "secretmanager.secrets.setIamPolicy"]\n}', /setIamPolicy is not needed/],
  ['gcpWitnessScoped', witnessGrant(lockedBucket.replace('is_locked        = true', 'is_locked        = false'), '["storage.objects.create"]'), /retention policy is not locked/],
  ['gcpWitnessScoped', witnessGrant(lockedBucket.replace('"enforced"', '"inherited"'), '["storage.objects.create"]'), /may be made public/],
  ['gcpWitnessScoped', witnessGrant(lockedBucket, '["storage.objects.create", "storage.objects.delete"]'), /more than creating checkpoint copies/],
  ['gcpWitnessScoped', `${sa}resource "google_storage_bucket_iam_member" "m" {\n  bucket = "elsewhere"\n  role   = "roles/storage.objectAdmin"\n  member = "serviceAccount:\${google_service_account.sa.email}"\n}`, /predefined storage role roles\/storage\.objectAdmin/],
  ['gcpCustomRolesMinimal', 'resource "google_project_iam_custom_role" "r" {\n  permissions = ["storage.objects.create", "storage.objects.delete"]\n}', /storage\.objects\.delete is not needed/],
  ['gcpFirestoreGrantScoped', `${sa}resource "google_project_iam_member" "m" {\n  role   = "roles/datastore.user"\n  member = "serviceAccount:\${google_service_account.sa.email}"\n}`, /not conditioned on the keyhold database/],
  ['gcpFirestoreGrantScoped', `${sa}resource "google_project_iam_member" "m" {\n  role   = "roles/datastore.owner"\n  member = "serviceAccount:\${google_service_account.sa.email}"\n}`, /more than the broker needs/],
  ['gcpDatabaseProtected', 'resource "google_firestore_database" "d" {\n  type                              = "FIRESTORE_NATIVE"\n  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_DISABLED"\n  delete_protection_state           = "DELETE_PROTECTION_DISABLED"\n}', /point-in-time recovery is not enabled[\s\S]*delete protection is not enabled/],
  ['noSecretValues', 'resource "google_cloudfunctions2_function" "f" {\n  service_config {\n    environment_variables = {\n      KEYHOLD_SIGNING_KEY_SECRET = "projects/p/secrets/s"\n      DB_PASSWORD = "hunter2"\n    }\n  }\n}', /^(?=[\s\S]*KEYHOLD_SIGNING_KEY_SECRET looks like a secret)(?=[\s\S]*DB_PASSWORD looks like a secret)/],
  ['noSecretValues', 'resource "google_secret_manager_secret_version" "v" {\n  secret_data = "hunter2"\n}', /set out of band/],
];

describe('gcp checks fail on bad snippets', () => {
  for (const [name, hcl, expected] of negatives) {
    it(`${name}: ${expected.source}`, async () => {
      const rule: Rule | undefined = GCP_RULES[name];
      expect(rule).toBeDefined();
      const problems = rule?.(await parseHcl(hcl)) ?? [];
      expect(problems.join('\n')).toMatch(expected);
    });
  }
});
