// moto for test files: the server (test/support/moto-server.ts, free of
// vitest so the chaos CLI can start it too) and `describeWithMoto`.
import { describe } from 'vitest';
import { missingMessage, motoAvailable } from './support/moto-server';

export { motoAvailable, motoCredentials, motoRegion, startMoto, type Moto } from './support/moto-server';

/**
 * `describe` for suites that need moto. Without moto_server: in CI, throw at
 * collection with a clear message; elsewhere, a skipped suite named for why.
 */
export function describeWithMoto(name: string, fn: () => void): void {
  if (motoAvailable()) {
    describe(name, fn);
    return;
  }
  if (process.env.CI) throw new Error(`${name}: ${missingMessage}; CI must not skip it`);
  describe.skip(`skipped because moto_server is not on PATH: ${name}`, fn);
}
