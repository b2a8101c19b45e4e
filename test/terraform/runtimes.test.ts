// Issue 16: every deployment target runs a supported Node (22), the same one
// the bundles and images are built for; development stays possible on 20.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { deployRuntime, lambdaDefaultMemoryMb, lambdaNodeFlags } from '../../functions/runtime';
import { assumptions, aws as prices } from '../bench/prices';
import type { TfConfig } from './hcl';
import { firstBlock, parseModule, resources } from './hcl';

const root = resolve(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(resolve(root, p), 'utf8');
/** Node majors that reached their end of life (nodejs.org release schedule). */
const endOfLife = [14, 16, 18, 20];

let aws: TfConfig;
let gcp: TfConfig;
beforeAll(async () => {
  aws = await parseModule(resolve(root, 'infra/terraform/aws'));
  gcp = await parseModule(resolve(root, 'infra/terraform/gcp'));
});

describe('deployment runtimes', () => {
  it('the deployed Node is a supported major', () => {
    expect(endOfLife).not.toContain(deployRuntime.nodeMajor);
    expect(deployRuntime).toEqual({ nodeMajor: 22, esbuildTarget: 'node22', lambda: 'nodejs22.x', cloudFunctions: 'nodejs22' });
  });

  it('Lambda defaults to, and accepts only, that runtime', () => {
    expect(resources(aws, 'aws_lambda_function')[0]?.body.runtime).toBe('${var.runtime}');
    const v = aws.variable.runtime?.[0] ?? {};
    expect(v.default).toBe(deployRuntime.lambda);
    const condition = String((v.validation as { condition: string }[])[0]?.condition);
    const allowed = [...condition.matchAll(/"(nodejs[0-9.x]+)"/g)].map((m) => m[1]);
    expect(allowed).toEqual([deployRuntime.lambda]);
  });

  it('the cost model prices the Lambda architecture and memory size that are deployed', () => {
    expect(resources(aws, 'aws_lambda_function')[0]?.body.architectures).toEqual([prices.lambdaArchitecture]);
    expect(aws.variable.memory_size?.[0]?.default).toBe(assumptions.lambdaMemoryGb * 1024);
  });

  it("the bench starts its Lambda processes with the flags of Lambda's default memory size", () => {
    expect(aws.variable.memory_size?.[0]?.default).toBe(lambdaDefaultMemoryMb);
    expect(lambdaNodeFlags(512)).toEqual(['--expose-gc', '--max-http-header-size', '81920', '--max-semi-space-size=25', '--max-old-space-size=461']);
  });

  it('Cloud Functions builds with that runtime', () => {
    const fn = resources(gcp, 'google_cloudfunctions2_function')[0]?.body ?? {};
    expect(firstBlock(fn, 'build_config')?.runtime).toBe(deployRuntime.cloudFunctions);
  });

  it('both images build and run on that Node', () => {
    for (const file of ['infra/images/broker/Dockerfile', 'operator-hooks/Dockerfile']) {
      const froms = [...read(file).matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);
      expect(froms.length, file).toBeGreaterThanOrEqual(2);
      for (const image of froms) expect(image, file).toMatch(new RegExp(`^(node:${deployRuntime.nodeMajor}-|gcr\\.io/distroless/nodejs${deployRuntime.nodeMajor}-)`));
    }
    expect(read('operator-hooks/Dockerfile')).toContain(`--target=${deployRuntime.esbuildTarget}`);
  });

  it('the function bundles target it, and the GCP upload asks for it', () => {
    const build = read('functions/build.ts');
    expect(build).toContain('target: deployRuntime.esbuildTarget');
    expect(build).not.toMatch(/target: 'node\d+'/);
    expect(build).toContain('engines: { node: `>=${deployRuntime.nodeMajor}` }');
  });

  it('development still runs on Node 20 as well as 22 (package.json engines), and this process is one of those', () => {
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe('>=20.19 <25');
    expect([20, 22]).toContain(Number(process.versions.node.split('.')[0]));
  });
});
