import { describe, expect, it } from 'vitest';
import { HookConfigError, parseHookConfig, type KeeperConfig } from './config';

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
