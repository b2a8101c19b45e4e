// KV v2 fidelity through node-vault (as the adapter will call it) and raw
// fetch (to pin statuses and bodies node-vault hides).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type NodeVault from 'node-vault';
import { startVaultEmulator } from './server';
import type { VaultEmulator } from './server';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the assertions walk parsed JSON whose shape they check
type Json = any;

let vault: VaultEmulator;
let client: NodeVault.client;

async function raw(method: string, path: string, body?: unknown, token: string | null = vault.token) {
  const res = await fetch(`${vault.address}/v1/${path}`, {
    method,
    headers: { ...(token === null ? {} : { 'X-Vault-Token': token }), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown> & { errors?: string[]; data?: Json }) };
}

/** node-vault rejects non-2xx with an error carrying the status and parsed body. */
async function rejection(p: Promise<unknown>): Promise<{ statusCode: number; body: Json; message: string }> {
  const err = (await p.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  )) as { message: string; response: { statusCode: number; body: Json } };
  return { statusCode: err.response.statusCode, body: err.response.body, message: err.message };
}

beforeAll(async () => {
  vault = await startVaultEmulator();
  client = (await import('node-vault')).default({ apiVersion: 'v1', endpoint: vault.address, token: vault.token });
});
afterAll(() => vault.close());
beforeEach(() => vault.reset());

describe('data', () => {
  it('writes and reads with the full envelope', async () => {
    const written = await client.write('secret/data/k1', { data: { a: 1 } });
    expect(Object.keys(written).sort()).toEqual(['auth', 'data', 'lease_duration', 'lease_id', 'mount_type', 'renewable', 'request_id', 'warnings', 'wrap_info']);
    expect(written).toMatchObject({ lease_id: '', renewable: false, lease_duration: 0, wrap_info: null, warnings: null, auth: null });
    expect(written.data).toEqual({ created_time: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/), custom_metadata: null, deletion_time: '', destroyed: false, version: 1 });

    const read = await client.read('secret/data/k1');
    expect(read.data.data).toEqual({ a: 1 });
    expect(read.data.metadata).toMatchObject({ version: 1, deletion_time: '', destroyed: false });
  });

  it('reads an older version with ?version=N', async () => {
    await client.write('secret/data/k', { data: { v: 1 } });
    await client.write('secret/data/k', { data: { v: 2 } });
    expect((await client.read('secret/data/k?version=1')).data.data).toEqual({ v: 1 });
    expect((await client.read('secret/data/k')).data).toMatchObject({ data: { v: 2 }, metadata: { version: 2 } });
    expect(await raw('GET', 'secret/data/k?version=9')).toEqual({ status: 404, body: { errors: [] } });
  });

  it('cas 0 creates only; a stale cas is 400 with Vault\'s text', async () => {
    expect((await client.write('secret/data/c', { data: { a: 1 }, options: { cas: 0 } })).data.version).toBe(1);
    const again = await rejection(client.write('secret/data/c', { data: { a: 2 }, options: { cas: 0 } }));
    expect(again.statusCode).toBe(400);
    expect(again.body).toEqual({ errors: ['check-and-set parameter did not match the current version'] });
    expect(again.message).toBe('check-and-set parameter did not match the current version');
    expect((await client.write('secret/data/c', { data: { a: 2 }, options: { cas: 1 } })).data.version).toBe(2);
    expect((await rejection(client.write('secret/data/c', { data: { a: 3 }, options: { cas: 1 } }))).statusCode).toBe(400);
  });

  it('cas_required on the key or the mount demands a cas', async () => {
    await raw('POST', 'secret/metadata/r', { cas_required: true });
    expect(await raw('POST', 'secret/data/r', { data: { a: 1 } })).toEqual({ status: 400, body: { errors: ['check-and-set parameter required for this call'] } });
    expect((await raw('POST', 'secret/data/r', { data: { a: 1 }, options: { cas: 0 } })).status).toBe(200);

    expect((await raw('POST', 'secret/config', { cas_required: true, max_versions: 3 })).status).toBe(204);
    expect((await raw('GET', 'secret/config')).body?.data).toEqual({ cas_required: true, delete_version_after: '0s', max_versions: 3 });
    expect((await raw('PUT', 'secret/data/other', { data: { a: 1 } })).status).toBe(400);
  });

  it('refuses a write without data', async () => {
    expect(await raw('PUT', 'secret/data/x', { options: { cas: 0 } })).toEqual({ status: 400, body: { errors: ['no data provided'] } });
  });

  it('unknown key: 404 with an empty errors array', async () => {
    expect(await raw('GET', 'secret/data/nope')).toEqual({ status: 404, body: { errors: [] } });
    const viaClient = await rejection(client.read('secret/data/nope'));
    expect(viaClient).toMatchObject({ statusCode: 404, body: { errors: [] }, message: 'Status 404' });
  });

  it('deleted latest version: 404 that still carries metadata, and a 204 node-vault resolves to ""', async () => {
    await client.write('secret/data/d', { data: { a: 1 } });
    // node-vault 0.12 (axios) resolves a 204 with the empty string, not undefined.
    expect(await client.delete('secret/data/d')).toBe('');
    const res = await raw('GET', 'secret/data/d');
    expect(res.status).toBe(404);
    expect(res.body?.errors).toBeUndefined();
    expect(res.body?.data.data).toBeNull();
    expect(res.body?.data.metadata).toMatchObject({ version: 1, destroyed: false, deletion_time: expect.stringMatching(/Z$/) });
    const viaClient = await rejection(client.read('secret/data/d'));
    expect(viaClient.statusCode).toBe(404);
    expect(viaClient.body.data.metadata.version).toBe(1);
  });

  it('PATCH merges into the latest version (merge-patch content type required)', async () => {
    await client.write('secret/data/p', { data: { a: 1, b: 2 } });
    const patched = await client.update('secret/data/p', { data: { b: null, c: 3 } });
    expect(patched.data.version).toBe(2);
    expect((await client.read('secret/data/p')).data.data).toEqual({ a: 1, c: 3 });
    const wrongType = await raw('PATCH', 'secret/data/p', { data: {} });
    expect(wrongType.status).toBe(415);
  });
});

describe('delete, undelete, destroy', () => {
  it('soft-deletes, restores and destroys versions with 204s', async () => {
    await client.write('secret/data/v', { data: { n: 1 } });
    await client.write('secret/data/v', { data: { n: 2 } });
    expect((await raw('POST', 'secret/delete/v', { versions: [1] })).status).toBe(204);
    expect((await raw('GET', 'secret/data/v?version=1')).status).toBe(404);
    expect((await raw('POST', 'secret/undelete/v', { versions: [1] })).status).toBe(204);
    expect((await client.read('secret/data/v?version=1')).data.data).toEqual({ n: 1 });
    expect((await raw('PUT', 'secret/destroy/v', { versions: [1] })).status).toBe(204);
    const destroyed = await raw('GET', 'secret/data/v?version=1');
    expect(destroyed.status).toBe(404);
    expect(destroyed.body?.data.metadata).toMatchObject({ destroyed: true, version: 1 });
    // Destroyed is final: undelete does not bring it back.
    await raw('POST', 'secret/undelete/v', { versions: [1] });
    expect((await raw('GET', 'secret/data/v?version=1')).status).toBe(404);
  });

  it('requires versions, with each handler\'s own text', async () => {
    expect(await raw('POST', 'secret/delete/v', { versions: [] })).toEqual({ status: 400, body: { errors: ['No version number provided'] } });
    expect(await raw('POST', 'secret/destroy/v', {})).toEqual({ status: 400, body: { errors: ['no version number provided'] } });
  });

  it('deleting is not resetting: the next write continues the version count and cas sees it', async () => {
    await client.write('secret/data/n', { data: { a: 1 } });
    await client.delete('secret/data/n');
    expect((await rejection(client.write('secret/data/n', { data: { a: 1 }, options: { cas: 0 } }))).statusCode).toBe(400);
    expect((await client.write('secret/data/n', { data: { a: 2 }, options: { cas: 1 } })).data.version).toBe(2);
  });
});

describe('metadata', () => {
  it('reports versions and settings, and only DELETE of metadata resets versions', async () => {
    await client.write('secret/data/m', { data: { a: 1 } });
    await client.write('secret/data/m', { data: { a: 2 } });
    await client.write('secret/metadata/m', { max_versions: 5, custom_metadata: { owner: 'keyhold' } });
    const meta = (await client.read('secret/metadata/m')).data;
    expect(meta).toMatchObject({ current_version: 2, oldest_version: 0, max_versions: 5, cas_required: false, custom_metadata: { owner: 'keyhold' }, delete_version_after: '0s' });
    expect(Object.keys(meta.versions)).toEqual(['1', '2']);
    expect(meta.versions['1']).toEqual({ created_time: expect.any(String), deletion_time: '', destroyed: false });
    expect(meta).toHaveProperty('created_time');
    expect(meta).toHaveProperty('updated_time');

    expect(await client.delete('secret/metadata/m')).toBe('');
    expect(await raw('GET', 'secret/metadata/m')).toEqual({ status: 404, body: { errors: [] } });
    expect((await client.write('secret/data/m', { data: { a: 3 }, options: { cas: 0 } })).data.version).toBe(1);
  });

  it('prunes the oldest versions past max_versions', async () => {
    await raw('POST', 'secret/metadata/pr', { max_versions: 2 });
    for (let i = 1; i <= 4; i++) await client.write('secret/data/pr', { data: { i } });
    const meta = (await client.read('secret/metadata/pr')).data;
    expect(meta).toMatchObject({ current_version: 4, oldest_version: 3 });
    expect(Object.keys(meta.versions)).toEqual(['3', '4']);
    expect((await raw('GET', 'secret/data/pr?version=1')).status).toBe(404);
  });

  it('lists keys and folders with LIST and GET ?list=true; unknown is 404', async () => {
    for (const k of ['a', 'dir/b', 'dir/sub/c', 'z']) await client.write(`secret/data/${k}`, { data: { k } });
    expect((await client.list('secret/metadata')).data.keys).toEqual(['a', 'dir/', 'z']);
    expect((await client.list('secret/metadata/dir/')).data.keys).toEqual(['b', 'sub/']);
    expect((await raw('GET', 'secret/metadata/dir?list=true')).body?.data.keys).toEqual(['b', 'sub/']);
    const listClient = (await import('node-vault')).default({ endpoint: vault.address, token: vault.token, noCustomHTTPVerbs: true });
    expect((await listClient.list('secret/metadata/dir/sub')).data.keys).toEqual(['c']);
    expect(await raw('LIST', 'secret/metadata/none')).toEqual({ status: 404, body: { errors: [] } });
    expect((await rejection(client.list('secret/metadata/none'))).statusCode).toBe(404);
  });
});

describe('mounts and routing', () => {
  it('serves extra KV v2 mounts added through sys/mounts', async () => {
    expect((await raw('POST', 'sys/mounts/kv2', { type: 'kv', options: { version: '2' } })).status).toBe(204);
    expect(await raw('POST', 'sys/mounts/kv2', { type: 'kv', options: { version: '2' } })).toEqual({ status: 400, body: { errors: ['path is already in use at kv2/'] } });
    await client.write('kv2/data/x', { data: { a: 1 } });
    expect((await client.read('kv2/data/x')).data.data).toEqual({ a: 1 });
    expect((await raw('GET', 'secret/data/x')).status).toBe(404);
  });

  it('an unmounted path is 404 "no handler for route" for the root token', async () => {
    expect(await raw('GET', 'nomount/data/x')).toEqual({ status: 404, body: { errors: ['no handler for route "nomount/data/x". route entry not found.'] } });
  });

  it('an unknown path inside a mount and an unsupported verb', async () => {
    expect((await raw('GET', 'secret/bogus/x')).status).toBe(404);
    expect((await raw('GET', 'secret/delete/x')).status).toBe(405);
    expect((await raw('OPTIONS', 'secret/data/x')).status).toBe(405);
  });
});
