// The environment each Terraform module gives its function must be one the
// broker starts with: parseConfig, the broker's own schema, judges it. Terraform
// expressions are replaced by values of the kind their variables validate.

import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config';
import { parseModule } from './hcl';
import { functionEnvironments } from './policy-checks';

/** What a deployment would put where Terraform writes an expression. */
const sample: Record<string, string> = {
  KEYHOLD_CLUSTERS: JSON.stringify([{ name: 'eu1', issuer: 'https://oidc.eu1.example', jwksUri: 'https://oidc.eu1.example/keys' }]),
  KEYHOLD_GRANT_TTL_SECONDS: '120',
  KEYHOLD_OUTAGE_TOLERANCE_SECONDS: '900',
  KEYHOLD_MAX_CLOCK_SKEW_SECONDS: '5',
  KEYHOLD_OPERATOR_ISSUER: 'https://login.example.com',
  KEYHOLD_OPERATOR_JWKS_URI: 'https://login.example.com/.well-known/jwks.json',
  KEYHOLD_CHECKPOINT_WITNESS: 's3://acme-keyhold-witness/keyhold/checkpoints/',
  KEYHOLD_CHECKPOINT_WITNESS_RETENTION_DAYS: '2555',
};

const concrete = (vars: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, typeof v === 'string' && !v.includes('${') ? v : (sample[k] ?? `deployed-${k.toLowerCase()}`)]));

describe('the Terraform environment contract', () => {
  for (const cloud of ['aws', 'gcp'] as const) {
    it(`${cloud}: the function's environment is one the broker accepts`, async () => {
      const envs = functionEnvironments(await parseModule(resolve('infra/terraform', cloud)));
      expect(envs).toHaveLength(1);
      const config = parseConfig(concrete(envs[0]!.vars));
      expect(config.runtime).toBe(cloud === 'aws' ? 'aws-lambda' : 'gcp-functions');
      expect(config.operatorOidc).not.toBeNull();
      expect('secret' in config.signingKey).toBe(true);
      expect(config.checkpointWitness?.location.bucket).toBe('acme-keyhold-witness');
    });
  }
});
