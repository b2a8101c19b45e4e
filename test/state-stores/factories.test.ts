// Each cloud state store's factory: registered under its name, parses its
// own settings, and refuses bad ones with a ConfigError naming the variable.

import { describe, expect, it } from 'vitest';
import { ConfigError, type Env } from '../../src/config';
import { memoryLogger } from '../../src/log';
import { stateStoreFactories, type StoreContext } from '../../src/stores/registry';
import { ManualClock } from '../support/fixtures';

const ctx = (env: Env): StoreContext => ({ env, home: '/nonexistent', clock: new ManualClock(), logger: memoryLogger() });

async function refusal(name: string, env: Env): Promise<string> {
  const factory = stateStoreFactories[name]!;
  const err = await factory(ctx(env)).then(
    async (s) => {
      await s.close();
      return null;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return (err as ConfigError).message;
}

describe('state store factories', () => {
  it('registers the cloud stores by name', () => {
    expect(Object.keys(stateStoreFactories)).toEqual(expect.arrayContaining(['sqlite', 'dynamodb', 'firestore', 'vault']));
  });

  it('dynamodb: refuses a missing table, a bad region, a bad endpoint', async () => {
    expect(await refusal('dynamodb', { AWS_REGION: 'eu-west-1' })).toContain('KEYHOLD_DYNAMODB_TABLE');
    expect(await refusal('dynamodb', { KEYHOLD_DYNAMODB_TABLE: 'keyhold-state' })).toContain('AWS_REGION');
    expect(await refusal('dynamodb', { KEYHOLD_DYNAMODB_TABLE: 'keyhold-state', AWS_REGION: 'Europe' })).toContain('AWS_REGION');
    expect(await refusal('dynamodb', { KEYHOLD_DYNAMODB_TABLE: 'keyhold-state', AWS_REGION: 'eu-west-1', KEYHOLD_DYNAMODB_ENDPOINT: 'not a url' })).toContain('KEYHOLD_DYNAMODB_ENDPOINT');
  });

  it('dynamodb: builds a guarded store from good settings', async () => {
    const store = await stateStoreFactories.dynamodb!(ctx({ KEYHOLD_DYNAMODB_TABLE: 'keyhold-state', AWS_REGION: 'eu-west-1', KEYHOLD_DYNAMODB_ENDPOINT: 'http://127.0.0.1:9' }));
    expect(store.name).toBe('dynamodb');
    expect('breakerState' in store).toBe(true);
    await store.close();
  });

  it('firestore: refuses a missing project, a bad database id or prefix', async () => {
    expect(await refusal('firestore', {})).toContain('KEYHOLD_FIRESTORE_PROJECT');
    expect(await refusal('firestore', { KEYHOLD_GCP_PROJECT: 'my-project', KEYHOLD_FIRESTORE_DATABASE: 'Bad DB' })).toContain('KEYHOLD_FIRESTORE_DATABASE');
    expect(await refusal('firestore', { KEYHOLD_FIRESTORE_PROJECT: 'my-project', KEYHOLD_FIRESTORE_COLLECTION_PREFIX: 'a/b' })).toContain('KEYHOLD_FIRESTORE_COLLECTION_PREFIX');
  });

  it('vault: refuses a missing address or token, a bad or overlapping state prefix', async () => {
    expect(await refusal('vault', { KEYHOLD_VAULT_TOKEN: 't' })).toContain('KEYHOLD_VAULT_ADDR');
    expect(await refusal('vault', { KEYHOLD_VAULT_ADDR: 'http://127.0.0.1:8200' })).toContain('KEYHOLD_VAULT_TOKEN');
    expect(await refusal('vault', { KEYHOLD_VAULT_ADDR: 'http://127.0.0.1:8200', KEYHOLD_VAULT_TOKEN: 't', KEYHOLD_VAULT_STATE_PREFIX: '../x/' })).toContain('KEYHOLD_VAULT_STATE_PREFIX');
    expect(await refusal('vault', { KEYHOLD_VAULT_ADDR: 'http://127.0.0.1:8200', KEYHOLD_VAULT_TOKEN: 't', KEYHOLD_VAULT_STATE_PREFIX: 'keyhold/', KEYHOLD_VAULT_PREFIX: 'keyhold/validators/' })).toContain(
      'KEYHOLD_VAULT_STATE_PREFIX',
    );
  });
});
