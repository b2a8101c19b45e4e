// The cold-start bench's choice of Node for the function processes
// (functionNode in cold-start.ts): the deploy runtime's when there is one,
// otherwise this process's, said on stderr. Fake binaries print a version.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { lambdaDefaultMemoryMb, lambdaNodeFlags } from '../../functions/runtime';
import { functionNode, targets } from './cold-start';

const dir = mkdtempSync(join(tmpdir(), 'keyhold-function-node-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

function fakeNode(name: string, version: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\necho ${version}\n`);
  chmodSync(path, 0o755);
  return path;
}

function stderrOf(f: () => unknown): string {
  const lines: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true));
  f();
  vi.restoreAllMocks();
  return lines.join('');
}

describe('functionNode', () => {
  it("runs the functions on the deploy runtime's Node and says which", () => {
    const path = fakeNode('node22', 'v22.4.5');
    let node: ReturnType<typeof functionNode> | undefined;
    const said = stderrOf(() => (node = functionNode({ KEYHOLD_DEPLOY_NODE: path })));
    expect(node).toEqual({ path, version: 'v22.4.5', deployMajor: true });
    expect(said).toContain(`Node v22.4.5 (KEYHOLD_DEPLOY_NODE: ${path})`);
    expect(said).not.toContain('FALLBACK');
  });

  it("falls back to this process's Node, loudly, when there is no Node 22", () => {
    const path = fakeNode('node20', 'v20.9.0');
    let node: ReturnType<typeof functionNode> | undefined;
    const said = stderrOf(() => (node = functionNode({ KEYHOLD_DEPLOY_NODE: path })));
    expect(node).toEqual({ path: process.execPath, version: process.version, deployMajor: false });
    expect(said).toMatch(/FALLBACK: .*NOT the deploy runtime's Node 22 \(KEYHOLD_DEPLOY_NODE=.* is v20\.9\.0, not Node 22\)/);
  });
});

describe('targets', () => {
  it("start Lambda's processes with its bootstrap's flags for the default memory size, and GCP's with none", () => {
    expect(targets.find((t) => t.key === 'aws_lambda')?.nodeFlags).toEqual(lambdaNodeFlags(lambdaDefaultMemoryMb));
    expect(targets.find((t) => t.key === 'gcp')?.nodeFlags).toEqual([]);
  });
});
