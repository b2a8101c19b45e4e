// Worker entry from source: a worker does not inherit the parent's TypeScript
// loader, so it registers tsx itself. Bundles (functions/build.ts) build
// check-worker.ts into a plain check-worker.mjs instead.
import { register } from 'tsx/esm/api';

register();
await import('./check-worker.ts');
