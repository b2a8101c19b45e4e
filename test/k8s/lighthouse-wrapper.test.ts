// The validator container's wrapper script, as rendered, run under sh with a
// stand-in `lighthouse` (stand-ins/lighthouse.mjs) that refuses what
// Lighthouse refuses: the command line clap would reject, and a first start
// whose slashing database would meet a dangling symlink.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hasKubectl, isValidatorWorkload, render, skipReason } from './render';

const run = promisify(execFile);
const standIn = fileURLToPath(new URL('./stand-ins/lighthouse.mjs', import.meta.url));
const gvr = `0x${'d8'.repeat(32)}`;
const pubkey = `0x${randomBytes(48).toString('hex')}`;

type Container = { name: string; args?: string[]; env?: { name: string; value?: string }[] };
function wrapper(): string {
  const sts = render('overlays/hoodi-active').find(isValidatorWorkload)!;
  const pod = (sts.spec as { template: { spec: { containers: Container[] } } }).template.spec;
  return pod.containers.find((c) => c.name === 'validator')!.args![0]!;
}

let beacon: Server;
let beaconUrl: string;
beforeAll(async () => {
  beacon = createServer((req, res) => {
    if (req.url !== '/eth/v1/beacon/genesis') return res.writeHead(404).end();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ data: { genesis_time: '1742213400', genesis_validators_root: gvr, genesis_fork_version: '0x10000910' } }));
  });
  await new Promise<void>((r) => beacon.listen(0, '127.0.0.1', r));
  beaconUrl = `http://127.0.0.1:${(beacon.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => beacon.close(() => r())));

let dir: string;
let keys: string;
let data: string;
let bin: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyhold-wrapper-'));
  keys = join(dir, 'keys');
  data = join(dir, 'data');
  bin = join(dir, 'bin');
  for (const d of [keys, data, bin, join(dir, 'tmp')]) await mkdir(d);
  await writeFile(join(bin, 'lighthouse'), `#!/bin/sh\nexec "${process.execPath}" "${standIn}" "$@"\n`);
  await chmod(join(bin, 'lighthouse'), 0o755);
  // What fetch leaves (the one-key form): definitions and a grant.
  await writeFile(join(keys, 'validator_definitions.yml'), `- enabled: true\n  voting_public_key: "${pubkey}"\n  type: local_keystore\n`);
  await writeFile(join(keys, 'grant.jwt'), 'a.b.c');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const env = (extra: Record<string, string> = {}) => ({
  PATH: `${bin}:${process.env.PATH}`,
  KEYHOLD_KEY_DIR: keys,
  VC_DATADIR: data,
  NETWORK: 'hoodi',
  BEACON_NODES: `${beaconUrl},http://127.0.0.1:1`,
  FEE_RECIPIENT: '0x00000000000000000000000000000000000000aa',
  KEYHOLD_INIT_SLASHING_PROTECTION: 'false',
  TMPDIR: join(dir, 'tmp'),
  STANDIN_LOG: join(dir, 'runs.log'),
  STANDIN_GVR: gvr,
  ...extra,
});
const runs = async () => (await readFile(join(dir, 'runs.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { argv: string[]; exit: number; run?: string; error?: string });
const script = (e: Record<string, string>) => run('sh', ['-c', wrapper()], { env: e, timeout: 30_000 }).then(() => 0, (err: { code?: number }) => err.code ?? -1);
const standInRun = (args: string[], e = env()) => run(process.execPath, [standIn, ...args], { env: e }).then(() => 0, (err: { code?: number }) => err.code ?? -1);

describe.runIf(hasKubectl)(`the lighthouse wrapper script${skipReason}`, () => {
  it('parses under sh -n', async () => {
    await expect(run('sh', ['-n', '-c', wrapper()])).resolves.toBeDefined();
  });

  it('the stand-in refuses what lighthouse refuses: --datadir after vc with --validators-dir, a dangling database link', async () => {
    expect(await standInRun(['vc', '--network', 'hoodi', '--datadir', data, '--validators-dir', keys, '--secrets-dir', keys])).toBe(2);
    expect(await standInRun(['--network', 'nowhere', '--datadir', data, 'vc'])).toBe(2);
    expect(await standInRun(['--network', 'hoodi', '--datadir', data, 'vc', '--no-such-flag'])).toBe(2);
    await symlink(join(data, 'validators', 'slashing_protection.sqlite'), join(keys, 'slashing_protection.sqlite'));
    expect(await standInRun(['--network', 'hoodi', '--datadir', data, 'vc', '--validators-dir', keys, '--secrets-dir', keys, '--init-slashing-protection'])).toBe(1);
    expect((await runs()).at(-1)?.error).toMatch(/EEXIST/);
  });

  it('first start, opted in, no history: makes the database on the claim, links it, and starts vc with --init-slashing-protection', async () => {
    expect(await script(env({ KEYHOLD_INIT_SLASHING_PROTECTION: 'true' }))).toBe(0);
    const r = await runs();
    expect(r.map((x) => x.run ?? `failed: ${x.error}`)).toEqual(['import', 'vc', 'export']);
    const vc = r[1]!.argv;
    expect(vc.slice(0, vc.indexOf('vc'))).toEqual(['--network', 'hoodi', '--datadir', data]);
    expect(vc).toContain('--init-slashing-protection');
    expect(vc[vc.indexOf('--beacon-nodes') + 1]).toBe(`${beaconUrl},http://127.0.0.1:1`);
    const db = join(data, 'validators', 'slashing_protection.sqlite');
    expect((await lstat(db)).isFile()).toBe(true);
    expect(await readlink(join(keys, 'slashing_protection.sqlite'))).toBe(db);
    expect(JSON.parse(await readFile(db, 'utf8'))).toEqual({ registered: [pubkey] });
    expect(JSON.parse(await readFile(join(keys, 'slashing-protection-export.json'), 'utf8')).data).toEqual([expect.objectContaining({ pubkey })]);
  });

  it('first start with the broker\'s history: imports it, and starts without --init-slashing-protection', async () => {
    await writeFile(join(keys, 'slashing-protection.json'), JSON.stringify({ metadata: { interchange_format_version: '5', genesis_validators_root: gvr }, data: [{ pubkey, signed_blocks: [], signed_attestations: [] }] }));
    expect(await script(env())).toBe(0);
    const r = await runs();
    expect(r.map((x) => x.run ?? `failed: ${x.error}`)).toEqual(['import', 'vc', 'export']);
    expect(r[1]!.argv).not.toContain('--init-slashing-protection');
  });

  it('a restart on an existing database neither imports nor initialises; the mev-boost component adds --builder-proposals', async () => {
    await mkdir(join(data, 'validators'));
    await writeFile(join(data, 'validators', 'slashing_protection.sqlite'), JSON.stringify({ registered: [pubkey] }));
    expect(await script(env({ KEYHOLD_INIT_SLASHING_PROTECTION: 'true', BUILDER_PROPOSALS: '--builder-proposals' }))).toBe(0);
    const r = await runs();
    expect(r.map((x) => x.run)).toEqual(['vc', 'export']);
    expect(r[0]!.argv).not.toContain('--init-slashing-protection');
    expect(r[0]!.argv).toContain('--builder-proposals');
  });

  it('first start without the opt-in and without history: refuses before lighthouse runs, leaving no dangling link', async () => {
    expect(await script(env())).toBe(1);
    await expect(readFile(join(dir, 'runs.log'), 'utf8')).rejects.toThrow();
    await expect(lstat(join(keys, 'slashing_protection.sqlite'))).rejects.toThrow();
  });
});
