// Which Node binary stands in for the deployed runtime (functions/runtime.ts)
// on this machine: the cold-start bench (test/bench/cold-start.ts) runs the
// function processes on it, so their start is timed on the Node they deploy
// on rather than on whatever Node runs the bench. In order:
// KEYHOLD_DEPLOY_NODE (a path), this very process when it is already that
// major, then the Node 22 that .ci/run installs into its cache.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { deployRuntime } from './runtime';

export interface DeployNode {
  readonly path: string;
  /** `process.version` of that binary, e.g. v22.23.3. */
  readonly version: string;
  readonly source: 'KEYHOLD_DEPLOY_NODE' | 'this process' | '.ci/run cache';
}

/** Where .ci/run installs Node 22 (keep in step with its `node22` variable). */
export function ciNode22Path(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.KEYHOLD_CI_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'keyhold-ci');
  return join(cache, 'node22', 'node_modules', 'node', 'bin', 'node');
}

const versionOf = (path: string): string | null => {
  try {
    return execFileSync(path, ['-p', 'process.version'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return null;
  }
};

const isDeployMajor = (version: string | null): version is string => version !== null && version.startsWith(`v${deployRuntime.nodeMajor}.`);

/** The deploy runtime's Node, or why there is none (the caller says so loudly and falls back). `self`: this process (a seam for tests). */
export function findDeployNode(env: NodeJS.ProcessEnv = process.env, self: { readonly path: string; readonly version: string } = { path: process.execPath, version: process.version }): DeployNode | { readonly reason: string } {
  const explicit = env.KEYHOLD_DEPLOY_NODE;
  if (explicit) {
    const version = versionOf(explicit);
    return isDeployMajor(version) ? { path: explicit, version, source: 'KEYHOLD_DEPLOY_NODE' } : { reason: `KEYHOLD_DEPLOY_NODE=${explicit} is ${version ?? 'not a runnable node'}, not Node ${deployRuntime.nodeMajor}` };
  }
  if (isDeployMajor(self.version)) return { path: self.path, version: self.version, source: 'this process' };
  const cached = ciNode22Path(env);
  const version = existsSync(cached) ? versionOf(cached) : null;
  if (isDeployMajor(version)) return { path: cached, version, source: '.ci/run cache' };
  return { reason: `no Node ${deployRuntime.nodeMajor}: this process is ${self.version}, KEYHOLD_DEPLOY_NODE is unset and ${cached} ${version ? `is ${version}` : 'does not exist'} (bash .ci/run installs it)` };
}
