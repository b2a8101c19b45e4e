// The CLI against a real broker on loopback: it speaks HTTP only, so this is
// the same path an operator takes against a cloud broker.

import { readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../src/http/openapi';
import type { SqliteStateStore } from '../src/stores/sqlite/state-store';
import { cliRig, type CliRig } from './support/cli';
import { generatedKeyMaterial, type TestBroker } from './support/fixtures';

let b: TestBroker;
let dir: string;
let cli: CliRig['cli'];
let rig: CliRig;

beforeAll(async () => {
  rig = await cliRig();
  ({ b, dir, cli } = rig);
  const gen = generatedKeyMaterial();
  await writeFile(join(dir, 'keystore.json'), gen.keystore);
  await writeFile(join(dir, 'pw.txt'), gen.password);
});
afterAll(() => rig.close());

describe('keyhold CLI', () => {
  it('refuses an import without a well-formed --genesis-validators-root, as a usage error', async () => {
    const base = ['keys', 'import', 'v1', '--file', join(dir, 'keystore.json'), '--password-file', join(dir, 'pw.txt'), '--slot', 'eu1/validators/v1-0', '--service-account', 'validator'];
    expect((await cli(base)).code).toBe(2);
    const short = await cli([...base, '--genesis-validators-root', '0x1234']);
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/--genesis-validators-root/);
    expect((await cli(['status', '--format', 'json'])).stdout.trim()).toBe('[]');
  });

  it('imports a validator from an EIP-2335 keystore, designating the first slot and recording its network', async () => {
    const root = `0x${'4B'.repeat(32)}`;
    const r = await cli(['keys', 'import', 'v1', '--file', join(dir, 'keystore.json'), '--password-file', join(dir, 'pw.txt'), '--slot', 'eu1/validators/v1-0', '--slot', 'eu1/validators/v1-standby-0', '--service-account', 'validator', '--genesis-validators-root', root, '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [row] = JSON.parse(r.stdout) as { validator: string; epoch: number; slot: string; replicas: string }[];
    expect(row).toMatchObject({ validator: 'v1', epoch: 1, slot: 'eu1/validators/v1-0', replicas: 'sqlite@1' });
    const ks = JSON.parse(await readFile(join(dir, 'keystore.json'), 'utf8')) as { pubkey: string };
    expect(r.stdout).not.toContain(ks.pubkey.slice(0, 40));
    const s = await cli(['status', 'v1', '--format', 'json']);
    expect(JSON.parse(s.stdout)[0]).toMatchObject({ genesisValidatorsRoot: root.toLowerCase(), predecessor: 'none' });
  });

  it('refuses an import that names no service account, or a malformed one, before asking the broker', async () => {
    const base = ['keys', 'import', 'v2', '--file', join(dir, 'keystore.json'), '--password-file', join(dir, 'pw.txt'), '--slot', 'eu1/validators/v2-0', '--genesis-validators-root', `0x${'4b'.repeat(32)}`];
    const none = await cli(base);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--service-account');
    expect((await cli([...base, '--service-account', 'Not_A_Name'])).code).toBe(2);
  });

  it('refuses the same keystore under another id (exit 1, key_in_use), and a wrong password (key_password_wrong)', async () => {
    const dup = await cli(['keys', 'import', 'v1-dup', '--file', join(dir, 'keystore.json'), '--password-file', join(dir, 'pw.txt'), '--slot', 'eu1/other/anything-0', '--service-account', 'validator', '--genesis-validators-root', `0x${'4b'.repeat(32)}`]);
    expect(dup.code).toBe(1);
    expect(dup.stdout).toBe('');
    expect(dup.stderr).toMatch(/^keyhold: key_in_use: .*\n {2}the key in .*keystore\.json is already imported under another validator id/);
    await writeFile(join(dir, 'wrong.txt'), 'not the password');
    const wrong = await cli(['keys', 'import', 'v9', '--file', join(dir, 'keystore.json'), '--password-file', join(dir, 'wrong.txt'), '--slot', 'eu1/validators/v9-0', '--service-account', 'validator', '--genesis-validators-root', `0x${'4b'.repeat(32)}`]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('key_password_wrong');
    expect(wrong.stderr).toContain('wrong.txt is not the password of');
    expect(JSON.parse((await cli(['status', '--format', 'json'])).stdout).map((v: { id: string }) => v.id)).toEqual(['v1']);
  });

  it('shows status as a table and as JSON', async () => {
    const t = await cli(['status', 'v1']);
    expect(t.code).toBe(0);
    expect(t.stdout.split('\n')[0]).toMatch(/^VALIDATOR\s+EPOCH\s+STATE\s+SLOT/);
    expect(t.stdout).toMatch(/v1\s+1\s+vacant\s+eu1\/validators\/v1-0/);
    const j = await cli(['status', '--format', 'json']);
    expect((JSON.parse(j.stdout) as { id: string }[]).map((v) => v.id)).toEqual(['v1']);
  });

  it('promotes only with confirmation on a terminal or --yes', async () => {
    const args = ['promote', 'v1', '--to', 'eu1/validators/v1-standby-0', '--reason', 'node drain'];
    expect((await cli(args)).code).toBe(2);
    expect((await cli(args, { confirm: false })).code).toBe(1);
    expect((await cli(['status', 'v1', '--format', 'json'])).stdout).toContain('"epoch": 1');
    const ok = await cli([...args, '--yes', '--format', 'json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)[0]).toMatchObject({ epoch: 2, slot: 'eu1/validators/v1-standby-0', state: 'vacant' });
  });

  it('exits 1 with the broker\'s code when refused', async () => {
    const r = await cli(['promote', 'v1', '--to', 'eu1/validators/elsewhere-0', '--reason', 'x', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('slot_not_allowed');
  });

  it('queries the audit trail as NDJSON, following cursors', async () => {
    const r = await cli(['audit', 'query', '--validator', 'v1', '--format', 'ndjson']);
    expect(r.code).toBe(0);
    const actions = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { action: string }).action);
    expect(actions).toEqual(['key_imported', 'promoted', 'denied']);
    const limited = await cli(['audit', 'query', '--limit', '1', '--format', 'json']);
    expect(JSON.parse(limited.stdout)).toHaveLength(1);
  });

  it('verifies the ledger, and exits 1 naming the first bad row once a row is changed', async () => {
    const ok = await cli(['audit', 'verify']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ledger OK: 3 entries in 1 chains, checkpoint #\d+ of .* verified/);
    (b.parts.state as SqliteStateStore).rawDatabase().prepare("UPDATE ledger SET reason = 'forged' WHERE chain = 'v1' AND seq = 2").run();
    const bad = await cli(['audit', 'verify', '--format', 'json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)[0]).toMatchObject({ ok: false, problem: { chain: 'v1', seq: 2, fault: 'hash_mismatch' } });
  });

  it('says so and exits 3 when the broker cannot be reached, 2 on usage errors', async () => {
    const r = await cli(['status'], { env: { KEYHOLD_URL: 'http://127.0.0.1:9' } });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('cannot reach the broker at http://127.0.0.1:9');
    expect((await cli(['promote', '../v1', '--to', 'a/b/c', '--reason', 'x', '--yes'])).code).toBe(2);
    expect((await cli(['nonsense'])).code).toBe(2);
  });

  it('mints a dev pod token only for the local cluster', async () => {
    expect((await cli(['dev', 'token', '--slot', 'eu1/validators/v1-0', '--pod-uid', '00000000-0000-4000-8000-000000000001'])).code).toBe(2);
  });

  it('refuses plain HTTP to another host (exit 2, naming --insecure-http), and key material even with it', async () => {
    const other = { KEYHOLD_URL: 'http://broker.example.invalid:8787' };
    const r = await cli(['status'], { env: other });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^keyhold: refusing plain HTTP to broker\.example\.invalid:8787.*--insecure-http/);
    const keys = await cli(['--insecure-http', 'keys', 'import', 'v2', '--file', join(dir, 'keystore.json'), '--password-file', join(dir, 'pw.txt'), '--slot', 'eu1/validators/v2-0', '--service-account', 'validator', '--genesis-validators-root', `0x${'4b'.repeat(32)}`], { env: other });
    expect(keys.code).toBe(2);
    expect(keys.stderr).toMatch(/refusing to send key material over plain HTTP to broker\.example\.invalid:8787, even with --insecure-http/);
    // Loopback is this machine: plain HTTP is fine there.
    const port = new URL(rig.env.KEYHOLD_URL!).port;
    for (const url of [`http://localhost:${port}`, `http://127.0.0.1:${port}`]) expect((await cli(['status', 'v1'], { env: { KEYHOLD_URL: url } })).code).toBe(0);
  });

  it('does not follow a redirect with a keystore', async () => {
    let reached = 0;
    const target = serve({ fetch: () => { reached += 1; return new Response('{}'); }, hostname: '127.0.0.1', port: 0 });
    await new Promise((r) => target.once('listening', r));
    const to = `http://127.0.0.1:${(target.address() as AddressInfo).port}/v1/validators/v2/key`;
    const redirector = serve({ fetch: () => new Response(null, { status: 307, headers: { location: to } }), hostname: '127.0.0.1', port: 0 });
    await new Promise((r) => redirector.once('listening', r));
    try {
      const r = await cli(['keys', 'import', 'v2', '--file', join(dir, 'keystore.json'), '--password-file', join(dir, 'pw.txt'), '--slot', 'eu1/validators/v2-0', '--service-account', 'validator'], {
        env: { KEYHOLD_URL: `http://127.0.0.1:${(redirector.address() as AddressInfo).port}` },
      });
      expect(r.code).not.toBe(0);
      expect(reached).toBe(0);
    } finally {
      target.close();
      redirector.close();
    }
  });

  it('prints the OpenAPI document with `keyhold api`', async () => {
    const r = await cli(['api'], { env: { KEYHOLD_URL: 'http://unused.example.invalid' } });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { openapi: string; paths: Record<string, unknown> };
    expect(doc).toEqual(openApiDocument());
    expect(doc.openapi).toBe('3.1.0');
  });
});
