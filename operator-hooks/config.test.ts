import { describe, expect, it } from 'vitest';
import { HookConfigError, parseHookConfig, type FetchConfig, type KeeperConfig } from './config';

const base = {
  KEYHOLD_URL: 'https://keyhold-broker.keyhold-broker.svc:8443',
  KEYHOLD_VALIDATOR: 'v1',
  KEYHOLD_TOKEN_FILE: '/var/run/secrets/keyhold/token',
  KEYHOLD_KEY_DIR: '/keyhold/keys',
};
const keeperEnv = { ...base, KEYHOLD_SIGNER_PROCESS: 'lighthouse', KEYHOLD_KEEPER_PORT: '9102' };

const refusal = (f: () => unknown): HookConfigError => {
  try {
    f();
  } catch (e) {
    if (e instanceof HookConfigError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
};

describe('hook settings', () => {
  it('refuses an unknown KEYHOLD_ variable by name, whatever the verb', () => {
    for (const verb of ['fetch', 'keeper', 'probe'] as const) {
      const e = refusal(() => parseHookConfig(verb, { ...keeperEnv, KEYHOLD_RENEW_MARGIN: '5', PATH: '/bin' }));
      expect(e.variable).toBe('KEYHOLD_RENEW_MARGIN');
      expect(e.message).toMatch(/^KEYHOLD_RENEW_MARGIN: unknown variable/);
    }
  });

  it('names each missing required variable', () => {
    for (const name of Object.keys(base)) {
      const env: Record<string, string> = { ...base };
      delete env[name];
      expect(refusal(() => parseHookConfig('fetch', env)).variable).toBe(name);
    }
    expect(refusal(() => parseHookConfig('fetch', { ...base, KEYHOLD_URL: '  ' })).variable).toBe('KEYHOLD_URL');
    expect(refusal(() => parseHookConfig('keeper', base)).variable).toBe('KEYHOLD_SIGNER_PROCESS');
    expect(refusal(() => parseHookConfig('probe', { KEYHOLD_PROBE_BLOCK_TIME_SECONDS: '12', KEYHOLD_PROBE_MAX_BEHIND_SECONDS: '60' })).variable).toBe('KEYHOLD_PROBE_LOCAL_URL');
    expect(refusal(() => parseHookConfig('probe', { KEYHOLD_PROBE_LOCAL_URL: 'http://beacon:5052', KEYHOLD_PROBE_BLOCK_TIME_SECONDS: '12' })).variable).toBe('KEYHOLD_PROBE_MAX_BEHIND_SECONDS');
  });

  it('refuses plain http except on loopback, because the pod token rides along', () => {
    expect(refusal(() => parseHookConfig('fetch', { ...base, KEYHOLD_URL: 'http://broker.example:8787' })).variable).toBe('KEYHOLD_URL');
    expect(parseHookConfig('fetch', { ...base, KEYHOLD_URL: 'http://127.0.0.1:8787' }).verb).toBe('fetch');
  });

  it('refuses bad values with the variable and the value', () => {
    const e = refusal(() => parseHookConfig('keeper', { ...keeperEnv, KEYHOLD_KEEPER_PORT: 'ninety' }));
    expect(e.message).toContain('KEYHOLD_KEEPER_PORT');
    expect(e.message).toContain('"ninety"');
    expect(refusal(() => parseHookConfig('fetch', { ...base, KEYHOLD_FETCH_WAIT_FOR_DESIGNATION: 'yes' })).variable).toBe('KEYHOLD_FETCH_WAIT_FOR_DESIGNATION');
    expect(refusal(() => parseHookConfig('fetch', { ...base, KEYHOLD_VALIDATOR: 'V 1' })).variable).toBe('KEYHOLD_VALIDATOR');
    expect(refusal(() => parseHookConfig('probe', { ...keeperEnv, KEYHOLD_PROBE_LOCAL_URL: 'http://b:5052', KEYHOLD_PROBE_KIND: 'cosmos', KEYHOLD_PROBE_MAX_BEHIND_SECONDS: '60', KEYHOLD_PROBE_BLOCK_TIME_SECONDS: '12' })).variable).toBe(
      'KEYHOLD_PROBE_KIND',
    );
  });

  it('refuses a renew margin that the signer stop could outlast', () => {
    const e = refusal(() => parseHookConfig('keeper', { ...keeperEnv, KEYHOLD_RENEW_MARGIN_SECONDS: '5', KEYHOLD_SIGNER_STOP_GRACE_SECONDS: '5' }));
    expect(e.variable).toBe('KEYHOLD_RENEW_MARGIN_SECONDS');
  });

  it('reads the keeper container of the manifests, probe settings included', () => {
    const env = {
      ...keeperEnv,
      KEYHOLD_PROBE_KIND: 'beacon',
      KEYHOLD_PROBE_LOCAL_URL: 'http://beacon:5052',
      KEYHOLD_PROBE_REFERENCE_URLS: '',
      KEYHOLD_PROBE_BLOCK_TIME_SECONDS: '12',
      KEYHOLD_PROBE_MAX_BEHIND_SECONDS: '120',
      KEYHOLD_PROBE_GRACE_SECONDS: '900',
    };
    const k = parseHookConfig('keeper', env) as KeeperConfig;
    expect(k.signer).toEqual({ pidfile: null, process: 'lighthouse', graceMs: 5000 });
    expect(k.waitForDesignation).toBe(true);
    expect(k.exportCommand).toBeNull();
    expect(k.port).toBe(9102);
    const p = parseHookConfig('probe', env);
    expect(p).toMatchObject({ verb: 'probe', kind: 'beacon', referenceUrls: [], maxBehindSeconds: 120, blockTimeSeconds: 12, graceMs: 900_000 });
  });

  it('lets fetch exit on not_designated when told to', () => {
    expect(parseHookConfig('fetch', { ...base, KEYHOLD_FETCH_WAIT_FOR_DESIGNATION: 'false' })).toMatchObject({ waitForDesignation: false });
  });
});

describe('many validators and the Keymanager mode', () => {
  const { KEYHOLD_VALIDATOR: _one, ...noValidator } = base;
  const km = { KEYHOLD_KEYMANAGER_URL: 'http://127.0.0.1:5062', KEYHOLD_KEYMANAGER_TOKEN_FILE: '/vc/api-token.txt' };

  it('takes KEYHOLD_VALIDATORS as a list, each validator in a directory of its own', () => {
    const c = parseHookConfig('keeper', { ...noValidator, KEYHOLD_SIGNER_PROCESS: 'node', KEYHOLD_VALIDATORS: ' v1, v2 ,v3', ...km }) as KeeperConfig;
    expect(c.validators).toEqual(['v1', 'v2', 'v3']);
    expect(c.keyDirOf('v2')).toBe('/keyhold/keys/v2');
    expect(c.keymanager).toEqual({ url: new URL('http://127.0.0.1:5062'), tokenFile: '/vc/api-token.txt' });
  });

  it('keeps KEYHOLD_VALIDATOR as the one-key form, with the key directory itself', () => {
    const c = parseHookConfig('fetch', base) as KeeperConfig;
    expect(c.validators).toEqual(['v1']);
    expect(c.keyDirOf('v1')).toBe('/keyhold/keys');
  });

  it.each([
    [{ ...base, KEYHOLD_VALIDATORS: 'v2' }, 'KEYHOLD_VALIDATORS', /not both/],
    [{ ...noValidator, KEYHOLD_VALIDATORS: 'v1,v1' }, 'KEYHOLD_VALIDATORS', /twice/],
    [{ ...noValidator, KEYHOLD_VALIDATORS: 'v1,Bad_Id' }, 'KEYHOLD_VALIDATORS', /not a validator id/],
    [{ ...noValidator, KEYHOLD_VALIDATORS: ' , ' }, 'KEYHOLD_VALIDATORS', /lists no validator/],
  ])('refuses a bad list (%#)', (env, variable, message) => {
    const e = refusal(() => parseHookConfig('fetch', env));
    expect(e.variable).toBe(variable);
    expect(e.message).toMatch(message);
  });

  it('refuses several validators in the mount mode, where a fence of one would stop them all', () => {
    const e = refusal(() => parseHookConfig('keeper', { ...noValidator, KEYHOLD_SIGNER_PROCESS: 'node', KEYHOLD_VALIDATORS: 'v1,v2' }));
    expect(e.variable).toBe('KEYHOLD_VALIDATORS');
    expect(e.message).toMatch(/Keymanager mode/);
  });

  it('refuses half a Keymanager setting, a Keymanager URL in the clear off loopback, and an unknown client', () => {
    expect(refusal(() => parseHookConfig('keeper', { ...keeperEnv, KEYHOLD_KEYMANAGER_URL: km.KEYHOLD_KEYMANAGER_URL })).variable).toBe('KEYHOLD_KEYMANAGER_TOKEN_FILE');
    expect(refusal(() => parseHookConfig('keeper', { ...keeperEnv, KEYHOLD_KEYMANAGER_TOKEN_FILE: '/t' })).variable).toBe('KEYHOLD_KEYMANAGER_URL');
    expect(refusal(() => parseHookConfig('keeper', { ...keeperEnv, ...km, KEYHOLD_KEYMANAGER_URL: 'http://vc.example:5062' })).variable).toBe('KEYHOLD_KEYMANAGER_URL');
    expect(refusal(() => parseHookConfig('keeper', { ...keeperEnv, KEYHOLD_CLIENT: 'geth' })).message).toMatch(/lighthouse, lodestar, teku, nimbus, prysm, web3signer/);
    expect((parseHookConfig('keeper', { ...keeperEnv, KEYHOLD_CLIENT: 'teku' }) as KeeperConfig).client).toBe('teku');
  });

  it('gives fetch the client layout and the settings file too (fetch writes the layout)', () => {
    const c = parseHookConfig('fetch', { ...base, KEYHOLD_CLIENT: 'nimbus', KEYHOLD_VALIDATOR_SETTINGS_FILE: '/etc/keyhold/settings.json' }) as FetchConfig;
    expect(c.client).toBe('nimbus');
    expect(c.settingsFile).toBe('/etc/keyhold/settings.json');
    expect((parseHookConfig('fetch', base) as FetchConfig).client).toBeNull();
    expect(refusal(() => parseHookConfig('fetch', { ...base, KEYHOLD_CLIENT: 'Lighthouse' })).variable).toBe('KEYHOLD_CLIENT');
  });
});
