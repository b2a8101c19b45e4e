// What `npm run build` ships per cloud, read from esbuild's metafile: each
// bundle holds its own cloud's SDKs and never the other's, the SDKs sit in
// chunks loaded on first use rather than in the entry file, and the GCP
// upload is a package Cloud Build can install.

import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTarget, bundledInputs, inputOwner, sizeReport, type Built } from '../../functions/build';
import { bundleDir, repoRoot } from './support';

let aws: Built;
let gcp: Built;
let dir: Awaited<ReturnType<typeof bundleDir>>;

beforeAll(async () => {
  dir = await bundleDir('bundles');
  [aws, gcp] = await Promise.all([buildTarget('aws-lambda', { outdir: join(dir.dir, 'aws-lambda') }), buildTarget('gcp', { outdir: join(dir.dir, 'gcp') })]);
});
afterAll(async () => dir?.remove());

const packagesIn = (b: Built) => [...bundledInputs(b.metafile)].filter((p) => !p.startsWith('src/') && !p.startsWith('functions/') && !p.includes(':'));
/** Packages in the entry file itself: what every cold start loads before any store is used. */
const entryPackages = (b: Built) => {
  const entry = Object.entries(b.metafile.outputs).find(([f]) => resolve(repoRoot, f) === b.entry)![1];
  return new Set(Object.keys(entry.inputs).map(inputOwner));
};

describe('both bundles', () => {
  it('ship the import checks\' worker beside the entry, and load no keystore or BLS code at start', () => {
    for (const b of [aws, gcp]) {
      const worker = Object.keys(b.metafile.outputs).find((f) => resolve(repoRoot, f) === join(b.outdir, 'check-worker.mjs'));
      expect(worker, b.target).toBeDefined();
      expect([...entryPackages(b)].filter((p) => p === '@chainsafe/bls-keystore' || p === '@noble/curves')).toEqual([]);
    }
  });
});

describe('both bundles', () => {
  it("carry zod's English messages only, not every locale's (parsed at each cold start, never used)", () => {
    for (const b of [aws, gcp]) {
      const locales = Object.keys(b.metafile.inputs).filter((f) => /^node_modules\/zod\/v4\/locales\//.test(f));
      expect(locales, b.target).toEqual(['node_modules/zod/v4/locales/en.js']);
    }
  });
});

describe('the AWS Lambda bundle', () => {
  it('has the AWS SDKs of its stores and no Google Cloud package', () => {
    const pkgs = packagesIn(aws);
    expect(pkgs).toEqual(expect.arrayContaining(['@aws-sdk/client-dynamodb', '@aws-sdk/client-secrets-manager', '@aws-sdk/client-s3']));
    expect(pkgs.filter((p) => p.startsWith('@google-cloud/') || p.startsWith('@grpc/') || p === 'google-gax')).toEqual([]);
    expect(pkgs).not.toContain('better-sqlite3');
  });

  it('loads no SDK until a store is used', () => {
    expect([...entryPackages(aws)].filter((p) => p.startsWith('@aws-sdk/') || p.startsWith('@smithy/') || p === 'node-vault')).toEqual([]);
  });

  it('names its handler as Terraform expects', () => {
    expect(aws.entry).toBe(join(dir.dir, 'aws-lambda', 'aws-lambda.mjs'));
    expect(sizeReport(aws)).toMatch(/^aws-lambda: .* KiB in \d+ files/);
  });
});

describe('the GCP bundle', () => {
  it('has the Google Cloud SDKs of its stores and no AWS package', () => {
    const pkgs = packagesIn(gcp);
    expect(pkgs).toEqual(expect.arrayContaining(['@google-cloud/firestore', '@google-cloud/secret-manager', '@google-cloud/storage']));
    expect(pkgs.filter((p) => p.startsWith('@aws-sdk/') || p.startsWith('@smithy/'))).toEqual([]);
    expect(pkgs).not.toContain('better-sqlite3');
  });

  it('leaves functions-framework to the platform and lists it as the one dependency', async () => {
    expect(packagesIn(gcp)).not.toContain('@google-cloud/functions-framework');
    const pkg = JSON.parse(await readFile(join(gcp.outdir, 'package.json'), 'utf8'));
    const root = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8'));
    expect(pkg).toEqual({
      name: 'keyhold-gcp-function',
      private: true,
      type: 'module',
      main: 'index.mjs',
      engines: { node: '>=22' },
      dependencies: { '@google-cloud/functions-framework': root.dependencies['@google-cloud/functions-framework'] },
    });
    expect(gcp.entry).toBe(join(gcp.outdir, 'index.mjs'));
  });

  it('loads no SDK until a store is used', () => {
    expect([...entryPackages(gcp)].filter((p) => p.startsWith('@google-cloud/') || p === 'google-gax' || p.startsWith('@grpc/'))).toEqual([]);
  });
});

it('builds another store set on request, e.g. DynamoDB as the authority for a GCP broker', async () => {
  const both = await buildTarget('gcp', { outdir: join(dir.dir, 'gcp-shared'), stores: ['firestore', 'gcp-secret-manager', 'dynamodb', 'aws-secrets-manager'] });
  expect(packagesIn(both)).toEqual(expect.arrayContaining(['@aws-sdk/client-dynamodb', '@google-cloud/firestore']));
});
