// moto for test files: the server (test/support/moto-server.ts, free of
// vitest so the chaos CLI can start it too) and `describeWithMoto`.
import { describe } from 'vitest';
import { missingMessage, motoAvailable } from './support/moto-server';

export { motoAvailable, motoCredentials, motoRegion, startMoto, type Moto } from './support/moto-server';

/**
 * `describe` for suites that need moto. moto_server is a tool this machine
 * image has and `.ci/run` requires, like spin: without it the suite fails at
 * collection with a clear message rather than passing unrun.
 */
export function describeWithMoto(name: string, fn: () => void): void {
  if (!motoAvailable()) throw new Error(`${name}: ${missingMessage}; install moto (see ../shared/WIRE.md) rather than skip it`);
  describe(name, fn);
}
