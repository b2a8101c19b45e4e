// The variable validations are evaluated by terraform itself: a directory
// holding only variables.tf plans offline.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planVariables, terraformMissingReason } from './terraform-cli';

const infra = resolve(import.meta.dirname, '../../infra/terraform');

const clusters = [{ name: 'eu1', issuer: 'https://oidc.eu1.example', jwksUri: 'https://oidc.eu1.example/keys' }];
const common = { clusters, operator_issuer: 'https://login.example', operator_jwks_uri: 'https://login.example/jwks' };

const modules = [
  { cloud: 'aws', file: `${infra}/aws/variables.tf`, required: { ...common, region: 'eu-west-1' }, badPrefix: 'keyhold/validators', goodPrefix: 'keyhold/validators/' },
  { cloud: 'gcp', file: `${infra}/gcp/variables.tf`, required: { ...common, project_id: 'keyhold-test-1', region: 'europe-west1' }, badPrefix: 'keyhold-validators', goodPrefix: 'keyhold-validators-' },
] as const;

describe.each(modules)('$cloud variables', ({ file, required, badPrefix, goodPrefix }) => {
  if (terraformMissingReason !== undefined && process.env.CI) {
    it('needs terraform in CI', () => {
      expect.fail(`${terraformMissingReason}; CI machines must have it`);
    });
    return;
  }
  const maybe = terraformMissingReason === undefined ? it : it.skip;
  const suffix = terraformMissingReason === undefined ? '' : ` (skipped: ${terraformMissingReason})`;

  maybe(`accept the defaults with the required values${suffix}`, async () => {
    const result = await planVariables(file, { ...required, secret_prefix: goodPrefix });
    expect(result.output).not.toContain('Invalid value for variable');
    expect(result.status).toBe(0);
  });

  const rejected: [string, Record<string, unknown>, string][] = [
    ['a prefix without a terminating separator', { secret_prefix: badPrefix }, 'secret_prefix'],
    ['a zero grant TTL', { grant_ttl_seconds: 0 }, 'grant_ttl_seconds'],
    ['no clusters', { clusters: [] }, 'clusters'],
    ['duplicate cluster names', { clusters: [...clusters, ...clusters] }, 'clusters'],
    ['a plain-http JWKS URL', { clusters: [{ ...clusters[0], jwksUri: 'http://oidc.eu1.example/keys' }] }, 'clusters'],
    ['a plain-http operator issuer', { operator_issuer: 'http://login.example' }, 'operator_issuer'],
    ['a plain-http operator JWKS', { operator_jwks_uri: 'http://login.example/jwks' }, 'operator_jwks_uri'],
    ['a witness prefix without a terminating /', { witness_prefix: 'keyhold/checkpoints' }, 'witness_prefix'],
    ['a witness retention of no days', { witness_retention_days: 0 }, 'witness_retention_days'],
    ['a witness bucket name no cloud accepts', { witness_bucket_name: 'Keyhold_Witness!' }, 'witness_bucket_name'],
  ];
  for (const [what, values, variable] of rejected) {
    maybe(`reject ${what}${suffix}`, async () => {
      const result = await planVariables(file, { ...required, ...values });
      expect(result.status).not.toBe(0);
      expect(result.output).toContain('Invalid value for variable');
      expect(result.output).toContain(`var.${variable}`);
    });
  }
});
