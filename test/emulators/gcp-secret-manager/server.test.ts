// Fidelity: the official @google-cloud/secret-manager client, unmodified,
// against the emulator, asserting on gRPC status codes.
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c';
import { PROJECT, addVersion, codeOf, createSecret, secretPath, useEmulator } from './harness';
import { projectNumberOf } from './wire-behaviour';

const ctx = useEmulator();
const number = projectNumberOf(PROJECT);

describe('secrets', () => {
  it('creates a secret named with the project number, with a create time and a quoted etag', async () => {
    const before = Math.floor(Date.now() / 1000);
    const secret = await createSecret(ctx.client, 'alpha', { labels: { team: 'validators' } });
    expect(secret.name).toBe(`projects/${number}/secrets/alpha`);
    expect(Number(secret.createTime?.seconds)).toBeGreaterThanOrEqual(before);
    expect(secret.etag).toMatch(/^".+"$/);
    expect(secret.labels).toEqual({ team: 'validators' });
    expect(secret.replication?.automatic).toBeDefined();
  });

  it('refuses a duplicate with ALREADY_EXISTS, also when named by project number', async () => {
    await createSecret(ctx.client, 'alpha');
    expect(await codeOf(createSecret(ctx.client, 'alpha'))).toBe(status.ALREADY_EXISTS);
    expect(await codeOf(ctx.client.createSecret({ parent: `projects/${number}`, secretId: 'alpha', secret: { replication: { automatic: {} } } }))).toBe(
      status.ALREADY_EXISTS,
    );
  });

  it('refuses malformed IDs, parents and missing replication with INVALID_ARGUMENT', async () => {
    expect(await codeOf(createSecret(ctx.client, 'has.dot'))).toBe(status.INVALID_ARGUMENT);
    expect(await codeOf(createSecret(ctx.client, 'x'.repeat(256)))).toBe(status.INVALID_ARGUMENT);
    expect(await codeOf(createSecret(ctx.client, 'x'.repeat(255)))).toBe('ok');
    expect(await codeOf(ctx.client.createSecret({ parent: 'projects', secretId: 'a', secret: { replication: { automatic: {} } } }))).toBe(status.INVALID_ARGUMENT);
    expect(await codeOf(ctx.client.createSecret({ parent: `projects/${PROJECT}`, secretId: 'a', secret: {} }))).toBe(status.INVALID_ARGUMENT);
    expect(await codeOf(ctx.client.getSecret({ name: `projects/${PROJECT}/secret/a` }))).toBe(status.INVALID_ARGUMENT);
  });

  it('answers NOT_FOUND for unknown secrets and versions', async () => {
    expect(await codeOf(ctx.client.getSecret({ name: secretPath('nope') }))).toBe(status.NOT_FOUND);
    expect(await codeOf(addVersion(ctx.client, 'nope', 'v'))).toBe(status.NOT_FOUND);
    expect(await codeOf(ctx.client.accessSecretVersion({ name: `${secretPath('nope')}/versions/latest` }))).toBe(status.NOT_FOUND);
    expect(await codeOf(ctx.client.deleteSecret({ name: secretPath('nope') }))).toBe(status.NOT_FOUND);
    await createSecret(ctx.client, 'empty');
    expect(await codeOf(ctx.client.accessSecretVersion({ name: `${secretPath('empty')}/versions/latest` }))).toBe(status.NOT_FOUND);
    await addVersion(ctx.client, 'empty', 'v');
    expect(await codeOf(ctx.client.accessSecretVersion({ name: `${secretPath('empty')}/versions/2` }))).toBe(status.NOT_FOUND);
    expect(await codeOf(ctx.client.getSecretVersion({ name: `${secretPath('empty')}/versions/9` }))).toBe(status.NOT_FOUND);
    expect(await codeOf(ctx.client.disableSecretVersion({ name: `${secretPath('empty')}/versions/9` }))).toBe(status.NOT_FOUND);
  });

  it('validates labels and annotations with INVALID_ARGUMENT', async () => {
    expect(await codeOf(createSecret(ctx.client, 'a', { labels: { Upper: 'x' } }))).toBe(status.INVALID_ARGUMENT);
    expect(await codeOf(createSecret(ctx.client, 'a', { labels: { ok: 'Upper' } }))).toBe(status.INVALID_ARGUMENT);
    const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    expect(await codeOf(createSecret(ctx.client, 'a', { labels: labels(65) }))).toBe(status.INVALID_ARGUMENT);
    expect(await codeOf(createSecret(ctx.client, 'a', { labels: labels(64) }))).toBe('ok');
    // Keys plus values must stay under 16 KiB: 1 + 16382 bytes is the largest allowed.
    expect(await codeOf(createSecret(ctx.client, 'b', { annotations: { k: 'x'.repeat(16383) } }))).toBe(status.INVALID_ARGUMENT);
    expect(await codeOf(createSecret(ctx.client, 'b', { annotations: { k: 'x'.repeat(16382) } }))).toBe('ok');
    expect(await codeOf(createSecret(ctx.client, 'c', { annotations: { '-bad': 'x' } }))).toBe(status.INVALID_ARGUMENT);
  });

  it('deletes a secret with its versions', async () => {
    await createSecret(ctx.client, 'gone');
    await addVersion(ctx.client, 'gone', 'v');
    await ctx.client.deleteSecret({ name: secretPath('gone') });
    expect(await codeOf(ctx.client.getSecret({ name: secretPath('gone') }))).toBe(status.NOT_FOUND);
    await createSecret(ctx.client, 'gone');
    expect(await codeOf(ctx.client.accessSecretVersion({ name: `${secretPath('gone')}/versions/1` }))).toBe(status.NOT_FOUND);
  });

  it('lists secrets newest first, paged and filtered by label', async () => {
    for (const id of ['s1', 's2', 's3']) await createSecret(ctx.client, id, { labels: { env: id === 's2' ? 'prod' : 'dev' } });
    const [first, , firstResponse] = await ctx.client.listSecrets({ parent: `projects/${PROJECT}`, pageSize: 2 }, { autoPaginate: false });
    expect(first.map((s) => s.name?.split('/').pop())).toEqual(['s3', 's2']);
    expect(firstResponse?.nextPageToken).toBeTruthy();
    const [rest, , restResponse] = await ctx.client.listSecrets(
      { parent: `projects/${PROJECT}`, pageSize: 2, pageToken: firstResponse?.nextPageToken ?? '' },
      { autoPaginate: false },
    );
    expect(rest.map((s) => s.name?.split('/').pop())).toEqual(['s1']);
    expect(restResponse?.nextPageToken).toBeFalsy();
    const [prod] = await ctx.client.listSecrets({ parent: `projects/${PROJECT}`, filter: 'labels.env=prod' });
    expect(prod.map((s) => s.name?.split('/').pop())).toEqual(['s2']);
  });

  it('answers UNIMPLEMENTED for RPCs it does not emulate', async () => {
    expect(await codeOf(ctx.client.getIamPolicy({ resource: secretPath('a') }))).toBe(status.UNIMPLEMENTED);
  });
});

describe('versions and payloads', () => {
  it('adds versions numbered from 1 and accesses latest and numbered ones by their numeric name', async () => {
    await createSecret(ctx.client, 'key');
    expect((await addVersion(ctx.client, 'key', 'one')).name).toBe(`projects/${number}/secrets/key/versions/1`);
    expect((await addVersion(ctx.client, 'key', 'two')).name).toBe(`projects/${number}/secrets/key/versions/2`);
    const [latest] = await ctx.client.accessSecretVersion({ name: `${secretPath('key')}/versions/latest` });
    expect(latest.name).toBe(`projects/${number}/secrets/key/versions/2`);
    expect(Buffer.from(latest.payload?.data as Uint8Array).toString()).toBe('two');
    const [first] = await ctx.client.accessSecretVersion({ name: `${secretPath('key')}/versions/1` });
    expect(Buffer.from(first.payload?.data as Uint8Array).toString()).toBe('one');
    const [byNumber] = await ctx.client.accessSecretVersion({ name: `projects/${number}/secrets/key/versions/1` });
    expect(byNumber.name).toBe(first.name);
  });

  it('returns the CRC32C on access, whether given or computed, and refuses a wrong one', async () => {
    await createSecret(ctx.client, 'crc');
    const given = await addVersion(ctx.client, 'crc', 'checked', crc32c(Buffer.from('checked')));
    expect(given.clientSpecifiedPayloadChecksum).toBe(true);
    const computed = await addVersion(ctx.client, 'crc', 'unchecked');
    expect(computed.clientSpecifiedPayloadChecksum).toBe(false);
    const [v1] = await ctx.client.accessSecretVersion({ name: `${secretPath('crc')}/versions/1` });
    expect(Number(v1.payload?.dataCrc32c)).toBe(crc32c(Buffer.from('checked')));
    const [v2] = await ctx.client.accessSecretVersion({ name: `${secretPath('crc')}/versions/2` });
    expect(Number(v2.payload?.dataCrc32c)).toBe(crc32c(Buffer.from('unchecked')));

    expect(await codeOf(addVersion(ctx.client, 'crc', 'tampered', crc32c(Buffer.from('checked'))))).toBe(status.INVALID_ARGUMENT);
    const [versions] = await ctx.client.listSecretVersions({ parent: secretPath('crc') });
    expect(versions).toHaveLength(2);
  });

  it('accepts exactly 64 KiB of data and refuses one byte more', async () => {
    await createSecret(ctx.client, 'big');
    expect(await codeOf(addVersion(ctx.client, 'big', Buffer.alloc(65536, 7)))).toBe('ok');
    expect(await codeOf(addVersion(ctx.client, 'big', Buffer.alloc(65537, 7)))).toBe(status.INVALID_ARGUMENT);
    const [latest] = await ctx.client.accessSecretVersion({ name: `${secretPath('big')}/versions/latest` });
    expect(latest.payload?.data).toHaveLength(65536);
  });

  it('refuses access to a version that is not ENABLED with FAILED_PRECONDITION', async () => {
    await createSecret(ctx.client, 'st');
    await addVersion(ctx.client, 'st', 'one');
    const v1 = `${secretPath('st')}/versions/1`;
    const [disabled] = await ctx.client.disableSecretVersion({ name: v1 });
    expect(disabled.state).toBe('DISABLED');
    expect(await codeOf(ctx.client.accessSecretVersion({ name: v1 }))).toBe(status.FAILED_PRECONDITION);
    const [enabled] = await ctx.client.enableSecretVersion({ name: v1 });
    expect(enabled.state).toBe('ENABLED');
    expect(await codeOf(ctx.client.accessSecretVersion({ name: v1 }))).toBe('ok');
  });

  it('resolves latest to the newest version even when it is disabled (documented behaviour)', async () => {
    await createSecret(ctx.client, 'lt');
    await addVersion(ctx.client, 'lt', 'one');
    await addVersion(ctx.client, 'lt', 'two');
    await ctx.client.disableSecretVersion({ name: `${secretPath('lt')}/versions/2` });
    expect(await codeOf(ctx.client.accessSecretVersion({ name: `${secretPath('lt')}/versions/latest` }))).toBe(status.FAILED_PRECONDITION);
  });

  it('destroys a version for good: data gone, state terminal', async () => {
    await createSecret(ctx.client, 'd');
    await addVersion(ctx.client, 'd', 'doomed');
    const v1 = `${secretPath('d')}/versions/1`;
    const [destroyed] = await ctx.client.destroySecretVersion({ name: v1 });
    expect(destroyed.state).toBe('DESTROYED');
    expect(destroyed.destroyTime?.seconds).toBeTruthy();
    expect(await codeOf(ctx.client.accessSecretVersion({ name: v1 }))).toBe(status.FAILED_PRECONDITION);
    expect(await codeOf(ctx.client.enableSecretVersion({ name: v1 }))).toBe(status.FAILED_PRECONDITION);
    expect(await codeOf(ctx.client.disableSecretVersion({ name: v1 }))).toBe(status.FAILED_PRECONDITION);
    const [meta] = await ctx.client.getSecretVersion({ name: v1 });
    expect(meta.state).toBe('DESTROYED');
  });

  it('lists versions newest first, page by page', async () => {
    await createSecret(ctx.client, 'pg');
    for (let i = 1; i <= 5; i++) await addVersion(ctx.client, 'pg', `v${i}`);
    const numbers: string[][] = [];
    let pageToken = '';
    do {
      const [versions, , response] = await ctx.client.listSecretVersions({ parent: secretPath('pg'), pageSize: 2, pageToken }, { autoPaginate: false });
      numbers.push(versions.map((v) => v.name?.split('/').pop() ?? ''));
      pageToken = response?.nextPageToken ?? '';
    } while (pageToken && numbers.length < 10);
    expect(numbers).toEqual([['5', '4'], ['3', '2'], ['1']]);
    const [all] = await ctx.client.listSecretVersions({ parent: secretPath('pg') });
    expect(all.map((v) => v.name?.split('/').pop())).toEqual(['5', '4', '3', '2', '1']);
    expect(await codeOf(ctx.client.listSecretVersions({ parent: secretPath('pg'), pageToken: 'bogus' }, { autoPaginate: false }))).toBe(status.INVALID_ARGUMENT);
    await ctx.client.disableSecretVersion({ name: `${secretPath('pg')}/versions/4` });
    const [disabled] = await ctx.client.listSecretVersions({ parent: secretPath('pg'), filter: 'state:DISABLED' });
    expect(disabled.map((v) => v.name?.split('/').pop())).toEqual(['4']);
  });
});

describe('etags', () => {
  it('changes the secret etag on update and refuses a stale one with FAILED_PRECONDITION', async () => {
    const created = await createSecret(ctx.client, 'e');
    const [updated] = await ctx.client.updateSecret({ secret: { name: secretPath('e'), labels: { a: 'b' }, etag: created.etag }, updateMask: { paths: ['labels'] } });
    expect(updated.etag).not.toBe(created.etag);
    expect(updated.labels).toEqual({ a: 'b' });
    const stale = ctx.client.updateSecret({ secret: { name: secretPath('e'), labels: { a: 'c' }, etag: created.etag }, updateMask: { paths: ['labels'] } });
    expect(await codeOf(stale)).toBe(status.FAILED_PRECONDITION);
    const [noEtag] = await ctx.client.updateSecret({ secret: { name: secretPath('e'), annotations: { note: 'x' } }, updateMask: { paths: ['annotations'] } });
    expect(noEtag.labels).toEqual({ a: 'b' });
    expect(noEtag.annotations).toEqual({ note: 'x' });
    expect(await codeOf(ctx.client.deleteSecret({ name: secretPath('e'), etag: updated.etag }))).toBe(status.FAILED_PRECONDITION);
    expect(await codeOf(ctx.client.deleteSecret({ name: secretPath('e'), etag: noEtag.etag }))).toBe('ok');
  });

  it('keeps secret and version etags independent, and changes them even on a no-op', async () => {
    const created = await createSecret(ctx.client, 'e2');
    const version = await addVersion(ctx.client, 'e2', 'v');
    const [enabled] = await ctx.client.enableSecretVersion({ name: version.name ?? '', etag: version.etag ?? '' });
    expect(enabled.etag).not.toBe(version.etag);
    expect(await codeOf(ctx.client.disableSecretVersion({ name: version.name ?? '', etag: version.etag ?? '' }))).toBe(status.FAILED_PRECONDITION);
    const [secret] = await ctx.client.getSecret({ name: secretPath('e2') });
    expect(secret.etag).toBe(created.etag);
  });

  it('refuses bad update masks and immutable fields with INVALID_ARGUMENT', async () => {
    await createSecret(ctx.client, 'm');
    expect(await codeOf(ctx.client.updateSecret({ secret: { name: secretPath('m'), labels: { a: 'b' } }, updateMask: { paths: [] } }))).toBe(status.INVALID_ARGUMENT);
    expect(await codeOf(ctx.client.updateSecret({ secret: { name: secretPath('m'), replication: { automatic: {} } }, updateMask: { paths: ['replication'] } }))).toBe(
      status.INVALID_ARGUMENT,
    );
    expect(await codeOf(ctx.client.updateSecret({ secret: { name: secretPath('m'), labels: { Bad: 'b' } }, updateMask: { paths: ['labels'] } }))).toBe(
      status.INVALID_ARGUMENT,
    );
    expect(await codeOf(ctx.client.updateSecret({ secret: { name: secretPath('none') }, updateMask: { paths: ['labels'] } }))).toBe(status.NOT_FOUND);
  });

  it('lets exactly one of many concurrent updates with the same etag win', async () => {
    const created = await createSecret(ctx.client, 'race');
    const codes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        codeOf(ctx.client.updateSecret({ secret: { name: secretPath('race'), labels: { n: String(i) }, etag: created.etag }, updateMask: { paths: ['labels'] } })),
      ),
    );
    expect(codes.filter((c) => c === 'ok')).toHaveLength(1);
    expect(codes.filter((c) => c === status.FAILED_PRECONDITION)).toHaveLength(19);
  });
});

describe('aliases and state', () => {
  it('gives each concurrent AddSecretVersion its own number', async () => {
    await createSecret(ctx.client, 'many');
    const versions = await Promise.all(Array.from({ length: 20 }, (_, i) => addVersion(ctx.client, 'many', `v${i}`)));
    expect(new Set(versions.map((v) => v.name)).size).toBe(20);
  });

  it('resolves version aliases on access', async () => {
    await createSecret(ctx.client, 'al');
    await addVersion(ctx.client, 'al', 'one');
    await addVersion(ctx.client, 'al', 'two');
    await ctx.client.updateSecret({ secret: { name: secretPath('al'), versionAliases: { current: 1 } }, updateMask: { paths: ['version_aliases'] } });
    const [res] = await ctx.client.accessSecretVersion({ name: `${secretPath('al')}/versions/current` });
    expect(res.name).toBe(`projects/${number}/secrets/al/versions/1`);
    expect(await codeOf(ctx.client.updateSecret({ secret: { name: secretPath('al'), versionAliases: { next: 3 } }, updateMask: { paths: ['version_aliases'] } }))).toBe(
      status.INVALID_ARGUMENT,
    );
  });

  it('forgets everything on reset()', async () => {
    await createSecret(ctx.client, 'r');
    ctx.emulator.reset();
    expect(await codeOf(ctx.client.getSecret({ name: secretPath('r') }))).toBe(status.NOT_FOUND);
  });
});
