#!/usr/bin/env node
// `keyhold-hook fetch|keeper|probe` from a checkout: TypeScript through tsx.
// The container image runs an esbuild bundle of operator-hooks/main.ts instead.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
