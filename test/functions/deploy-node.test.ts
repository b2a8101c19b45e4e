// functions/deploy-node.ts: which Node stands in for the deploy runtime
// (Node 22) here. Fake binaries (a script that prints a version) stand in
// for real Nodes, so this runs the same on Node 20 and 22.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ciNode22Path, findDeployNode } from '../../functions/deploy-node';

const dir = mkdtempSync(join(tmpdir(), 'keyhold-deploy-node-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fakeNode(path: string, version: string): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `#!/bin/sh\necho ${version}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** This process as Node 20 and as Node 22, whatever Node runs the test. */
const on20 = { path: '/opt/node20/bin/node', version: 'v20.20.2' };
const on22 = { path: '/opt/node22/bin/node', version: 'v22.23.3' };

describe('findDeployNode', () => {
  it('takes KEYHOLD_DEPLOY_NODE when it is Node 22', () => {
    const path = fakeNode(join(dir, 'explicit22', 'node'), 'v22.99.1');
    expect(findDeployNode({ KEYHOLD_DEPLOY_NODE: path, KEYHOLD_CI_CACHE: join(dir, 'nothing') })).toEqual({ path, version: 'v22.99.1', source: 'KEYHOLD_DEPLOY_NODE' });
  });

  it('refuses a KEYHOLD_DEPLOY_NODE of another major, or one that does not run, and does not fall through to another Node', () => {
    const path = fakeNode(join(dir, 'explicit20', 'node'), 'v20.5.0');
    const cache = join(dir, 'cache-with-22');
    fakeNode(ciNode22Path({ KEYHOLD_CI_CACHE: cache }), 'v22.1.0');
    const other = findDeployNode({ KEYHOLD_DEPLOY_NODE: path, KEYHOLD_CI_CACHE: cache });
    expect(other).toEqual({ reason: `KEYHOLD_DEPLOY_NODE=${path} is v20.5.0, not Node 22` });
    const missing = join(dir, 'no-such-node');
    expect(findDeployNode({ KEYHOLD_DEPLOY_NODE: missing, KEYHOLD_CI_CACHE: cache })).toEqual({ reason: `KEYHOLD_DEPLOY_NODE=${missing} is not a runnable node, not Node 22` });
  });

  it("without KEYHOLD_DEPLOY_NODE: this process when it is Node 22, else the Node 22 in .ci/run's cache", () => {
    const cache = join(dir, 'cache');
    const cached = fakeNode(ciNode22Path({ KEYHOLD_CI_CACHE: cache }), 'v22.7.0');
    expect(findDeployNode({ KEYHOLD_CI_CACHE: cache }, on22)).toEqual({ ...on22, source: 'this process' });
    expect(findDeployNode({ KEYHOLD_CI_CACHE: cache }, on20)).toEqual({ path: cached, version: 'v22.7.0', source: '.ci/run cache' });
  });

  it('says why there is none when the cache holds another major or nothing', () => {
    const stale = join(dir, 'stale-cache');
    fakeNode(ciNode22Path({ KEYHOLD_CI_CACHE: stale }), 'v21.0.0');
    expect(findDeployNode({ KEYHOLD_CI_CACHE: stale }, on20)).toEqual({ reason: expect.stringContaining(`${ciNode22Path({ KEYHOLD_CI_CACHE: stale })} is v21.0.0 (bash .ci/run installs it)`) });
    const empty = join(dir, 'empty-cache');
    expect(findDeployNode({ KEYHOLD_CI_CACHE: empty }, on20)).toEqual({ reason: expect.stringContaining(`this process is v20.20.2, KEYHOLD_DEPLOY_NODE is unset and ${ciNode22Path({ KEYHOLD_CI_CACHE: empty })} does not exist`) });
  });
});

describe('ciNode22Path', () => {
  it("is where .ci/run installs node@22: KEYHOLD_CI_CACHE, else XDG_CACHE_HOME's keyhold-ci", () => {
    expect(ciNode22Path({ KEYHOLD_CI_CACHE: '/c', XDG_CACHE_HOME: '/x' })).toBe('/c/node22/node_modules/node/bin/node');
    expect(ciNode22Path({ XDG_CACHE_HOME: '/x' })).toBe('/x/keyhold-ci/node22/node_modules/node/bin/node');
  });
});
