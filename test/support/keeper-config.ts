// A keeper's settings for tests that drive the Keeper class directly: short
// timings, nothing that reaches a real broker or signer.

import { join } from 'node:path';
import type { KeeperConfig } from '../../operator-hooks/config';

export function testKeeperConfig(dir: string, overrides: Partial<KeeperConfig> = {}): KeeperConfig {
  return {
    verb: 'keeper',
    url: new URL('http://127.0.0.1:1'),
    validator: 'v1',
    validators: ['v1'],
    keyDirOf: () => dir,
    tokenFile: '/unused',
    keyDir: dir,
    waitForDesignation: true,
    retryMaxMs: 200,
    fetchWaitMs: 0,
    httpTimeoutMs: 1000,
    signer: { pidfile: null, process: 'unused', graceMs: 100 },
    port: 0,
    exportCommand: null,
    exportWaitMs: 0,
    renewMarginMs: 1000,
    releaseTimeoutMs: 1000,
    probeStateFile: join(dir, 'probe.json'),
    keymanager: null,
    client: null,
    settingsFile: null,
    ...overrides,
  };
}
