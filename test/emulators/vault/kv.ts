// One KV version 2 mount, following vault-plugin-secrets-kv's handlers
// (path_data.go, path_metadata.go, path_delete.go, path_destroy.go,
// path_config.go): same checks in the same order, same texts, same 204s.
import { MSG, envelope, fail, goTime, noContent, ok } from './wire';
import type { Reply } from './wire';

export type KvOperation = 'read' | 'list' | 'write' | 'delete' | 'patch';

interface VersionMeta {
  createdTime: number;
  deletionTime: number | null;
  destroyed: boolean;
  data: Record<string, unknown> | null;
}

interface KeyMeta {
  versions: Map<number, VersionMeta>;
  currentVersion: number;
  oldestVersion: number;
  maxVersions: number;
  casRequired: boolean;
  deleteVersionAfter: string;
  customMetadata: Record<string, string> | null;
  createdTime: number;
  updatedTime: number;
}

// types.go: a key keeps 10 versions unless the key or the mount says otherwise.
const DEFAULT_MAX_VERSIONS = 10;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** mapstructure.WeakDecode into an int: numbers and numeric strings. */
function weakInt(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

/** framework.TypeCommaIntSlice: an array of ints or "1,2,3". */
function intSlice(v: unknown): number[] | undefined {
  const items = typeof v === 'string' ? v.split(',').filter((s) => s.trim() !== '') : Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  const out: number[] = [];
  for (const item of items) {
    const n = weakInt(item);
    if (n === undefined) return undefined;
    out.push(n);
  }
  return out;
}

function weakBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1' || v === 1) return true;
  if (v === 'false' || v === '0' || v === 0) return false;
  return undefined;
}

/** RFC 7386 JSON merge patch, as framework.HandlePatchOperation applies it. */
function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isObject(v)) out[k] = mergePatch(isObject(out[k]) ? out[k] : {}, v);
    else out[k] = v;
  }
  return out;
}

export class KvV2Mount {
  private readonly keys = new Map<string, KeyMeta>();
  private config = { maxVersions: 0, casRequired: false, deleteVersionAfter: '0s' };

  constructor(private readonly now: () => number) {}

  /** A copy frozen as of now: what a performance standby that stopped replicating here would serve. */
  snapshot(): KvV2Mount {
    const copy = new KvV2Mount(this.now);
    for (const [k, v] of this.keys) copy.keys.set(k, structuredClone(v));
    copy.config = { ...this.config };
    return copy;
  }

  /** For the ACL: a write to an existing key needs `update`, to a new one `create`. */
  exists(rest: string): boolean {
    const m = /^(data|metadata)\/(.+)$/.exec(rest);
    return m ? this.keys.has(m[2] ?? '') : true;
  }

  handle(op: KvOperation, rest: string, query: URLSearchParams, body: Record<string, unknown>): Reply {
    if (rest === 'config') {
      if (op === 'read') return this.readConfig();
      if (op === 'write') return this.writeConfig(body);
      return fail(405, MSG.unsupportedOperation);
    }
    const slash = rest.indexOf('/');
    const family = slash < 0 ? rest : rest.slice(0, slash);
    const key = slash < 0 ? '' : rest.slice(slash + 1);
    if (family === 'metadata' && op === 'list') return this.list(key);
    if (!['data', 'metadata', 'delete', 'undelete', 'destroy'].includes(family)) return fail(404, MSG.unsupportedPath);
    // The plugin's patterns require a key that does not end in '/'.
    if (key === '' || key.endsWith('/')) return fail(404, MSG.unsupportedPath);
    switch (`${family} ${op}`) {
      case 'data read':
        return this.readData(key, query);
      case 'data write':
        return this.writeData(key, body);
      case 'data patch':
        return this.patchData(key, body);
      case 'data delete':
        return this.deleteLatest(key);
      case 'metadata read':
        return this.readMetadata(key);
      case 'metadata write':
        return this.writeMetadata(key, body, false);
      case 'metadata patch':
        return this.writeMetadata(key, body, true);
      case 'metadata delete':
        this.keys.delete(key);
        return noContent();
      case 'delete write':
        return this.setDeleted(key, body, true);
      case 'undelete write':
        return this.setDeleted(key, body, false);
      case 'destroy write':
        return this.destroy(key, body);
      default:
        return fail(405, MSG.unsupportedOperation);
    }
  }

  private isDeleted(v: VersionMeta): boolean {
    return v.deletionTime !== null && v.deletionTime <= this.now();
  }

  private versionMetadata(meta: KeyMeta, num: number, v: VersionMeta) {
    return {
      created_time: goTime(v.createdTime),
      custom_metadata: meta.customMetadata,
      deletion_time: v.deletionTime === null ? '' : goTime(v.deletionTime),
      destroyed: v.destroyed,
      version: num,
    };
  }

  private readData(key: string, query: URLSearchParams): Reply {
    const meta = this.keys.get(key);
    if (!meta) return fail(404);
    let num = meta.currentVersion;
    const raw = query.get('version');
    if (raw !== null && raw !== '') {
      const parsed = weakInt(raw);
      if (parsed === undefined) return fail(400, `error converting input ${raw} for field "version"`);
      if (parsed > 0) num = parsed;
    }
    const v = meta.versions.get(num);
    if (!v) return fail(404);
    const data = { data: null as Record<string, unknown> | null, metadata: this.versionMetadata(meta, num, v) };
    // A deleted or destroyed version is a 404 that still carries its metadata.
    if (this.isDeleted(v) || v.destroyed) return { status: 404, body: envelope({ data, mountType: 'kv' }) };
    data.data = structuredClone(v.data);
    return ok(envelope({ data, mountType: 'kv' }));
  }

  private checkCas(body: Record<string, unknown>, meta: KeyMeta | undefined): Reply | undefined {
    const options = isObject(body.options) ? body.options : undefined;
    if (options && 'cas' in options) {
      const cas = weakInt(options.cas);
      if (cas === undefined) return fail(400, MSG.casParse);
      if (cas !== (meta?.currentVersion ?? 0)) return fail(400, MSG.casMismatch);
    } else if (this.config.casRequired || meta?.casRequired) {
      return fail(400, MSG.casRequired);
    }
    return undefined;
  }

  private addVersion(key: string, meta: KeyMeta | undefined, data: Record<string, unknown>): Reply {
    const now = this.now();
    const m: KeyMeta = meta ?? {
      versions: new Map(),
      currentVersion: 0,
      oldestVersion: 0,
      maxVersions: 0,
      casRequired: false,
      deleteVersionAfter: '0s',
      customMetadata: null,
      createdTime: now,
      updatedTime: now,
    };
    const v: VersionMeta = { createdTime: now, deletionTime: null, destroyed: false, data: structuredClone(data) };
    m.currentVersion += 1;
    m.versions.set(m.currentVersion, v);
    m.updatedTime = now;
    // KeyMetadata.AddVersion: prune from the oldest once over the limit.
    const max = m.maxVersions > 0 ? m.maxVersions : this.config.maxVersions > 0 ? this.config.maxVersions : DEFAULT_MAX_VERSIONS;
    if (m.currentVersion - m.oldestVersion >= max) {
      const toDelete = m.currentVersion - max;
      for (let i = m.oldestVersion; i <= toDelete; i++) m.versions.delete(i);
      m.oldestVersion = toDelete + 1;
    }
    this.keys.set(key, m);
    return ok(envelope({ data: this.versionMetadata(m, m.currentVersion, v), mountType: 'kv' }));
  }

  private writeData(key: string, body: Record<string, unknown>): Reply {
    if (!isObject(body.data)) return fail(400, MSG.noData);
    const meta = this.keys.get(key);
    const casFailure = this.checkCas(body, meta);
    if (casFailure) return casFailure;
    return this.addVersion(key, meta, body.data);
  }

  private patchData(key: string, body: Record<string, unknown>): Reply {
    if (!isObject(body.data)) return fail(400, MSG.noData);
    const meta = this.keys.get(key);
    if (!meta) return fail(404);
    const casFailure = this.checkCas(body, meta);
    if (casFailure) return casFailure;
    const current = meta.versions.get(meta.currentVersion);
    if (!current) return fail(404);
    if (this.isDeleted(current) || current.destroyed) {
      return { status: 404, body: envelope({ data: this.versionMetadata(meta, meta.currentVersion, current), mountType: 'kv' }) };
    }
    return this.addVersion(key, meta, mergePatch(current.data ?? {}, body.data));
  }

  private deleteLatest(key: string): Reply {
    const meta = this.keys.get(key);
    const v = meta?.versions.get(meta.currentVersion);
    if (v && !v.destroyed && !this.isDeleted(v)) v.deletionTime = this.now();
    return noContent();
  }

  private setDeleted(key: string, body: Record<string, unknown>, deleted: boolean): Reply {
    const versions = intSlice(body.versions);
    if (versions === undefined) return fail(400, `error converting input for field "versions"`);
    if (versions.length === 0) return fail(400, MSG.noVersionDelete);
    const meta = this.keys.get(key);
    if (!meta) return noContent();
    for (const n of versions) {
      const v = meta.versions.get(n);
      if (!v || v.destroyed) continue;
      if (deleted) {
        if (!this.isDeleted(v)) v.deletionTime = this.now();
      } else {
        v.deletionTime = null;
      }
    }
    return noContent();
  }

  private destroy(key: string, body: Record<string, unknown>): Reply {
    const versions = intSlice(body.versions);
    if (versions === undefined) return fail(400, `error converting input for field "versions"`);
    if (versions.length === 0) return fail(400, MSG.noVersionDestroy);
    const meta = this.keys.get(key);
    if (!meta) return noContent();
    for (const n of versions) {
      const v = meta.versions.get(n);
      if (!v) continue;
      v.destroyed = true;
      v.data = null;
    }
    return noContent();
  }

  private readMetadata(key: string): Reply {
    const meta = this.keys.get(key);
    if (!meta) return fail(404);
    const versions: Record<string, { created_time: string; deletion_time: string; destroyed: boolean }> = {};
    for (const [n, v] of meta.versions) {
      versions[String(n)] = { created_time: goTime(v.createdTime), deletion_time: v.deletionTime === null ? '' : goTime(v.deletionTime), destroyed: v.destroyed };
    }
    return ok(
      envelope({
        data: {
          cas_required: meta.casRequired,
          created_time: goTime(meta.createdTime),
          current_version: meta.currentVersion,
          custom_metadata: meta.customMetadata,
          delete_version_after: meta.deleteVersionAfter,
          max_versions: meta.maxVersions,
          oldest_version: meta.oldestVersion,
          updated_time: goTime(meta.updatedTime),
          versions,
        },
        mountType: 'kv',
      }),
    );
  }

  private writeMetadata(key: string, body: Record<string, unknown>, patch: boolean): Reply {
    const has = (f: string) => body[f] !== undefined;
    const existing = this.keys.get(key);
    if (patch && !existing) return fail(404);
    if (!patch && !has('max_versions') && !has('cas_required') && !has('custom_metadata') && !has('delete_version_after')) return noContent();
    let maxVersions: number | undefined;
    if (has('max_versions')) {
      maxVersions = weakInt(body.max_versions);
      if (maxVersions === undefined || maxVersions < 0) return fail(400, `error converting input ${JSON.stringify(body.max_versions)} for field "max_versions"`);
    }
    let casRequired: boolean | undefined;
    if (has('cas_required')) {
      casRequired = weakBool(body.cas_required);
      if (casRequired === undefined) return fail(400, `error converting input ${JSON.stringify(body.cas_required)} for field "cas_required"`);
    }
    let custom: Record<string, string> | undefined;
    if (has('custom_metadata')) {
      if (!isObject(body.custom_metadata)) return fail(400, 'custom_metadata validation failed: must be a map');
      const base = patch ? { ...(existing?.customMetadata ?? {}) } : {};
      for (const [k, v] of Object.entries(body.custom_metadata)) {
        if (patch && v === null) delete base[k];
        else base[k] = String(v ?? '');
      }
      custom = base;
    }
    const now = this.now();
    const meta: KeyMeta = existing ?? {
      versions: new Map(),
      currentVersion: 0,
      oldestVersion: 0,
      maxVersions: 0,
      casRequired: false,
      deleteVersionAfter: '0s',
      customMetadata: null,
      createdTime: now,
      updatedTime: now,
    };
    if (maxVersions !== undefined) meta.maxVersions = maxVersions;
    if (casRequired !== undefined) meta.casRequired = casRequired;
    if (custom !== undefined) meta.customMetadata = custom;
    if (has('delete_version_after')) meta.deleteVersionAfter = String(body.delete_version_after);
    this.keys.set(key, meta);
    if (casRequired === false && this.config.casRequired) {
      return ok(envelope({ warnings: ['"cas_required" set to false, but is mandated by backend config. This value will be ignored.'], mountType: 'kv' }));
    }
    return noContent();
  }

  private list(prefix: string): Reply {
    const p = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    const keys = new Set<string>();
    for (const k of this.keys.keys()) {
      if (!k.startsWith(p)) continue;
      const rest = k.slice(p.length);
      const slash = rest.indexOf('/');
      keys.add(slash < 0 ? rest : rest.slice(0, slash + 1));
    }
    if (keys.size === 0) return fail(404);
    return ok(envelope({ data: { keys: [...keys].sort() }, mountType: 'kv' }));
  }

  private readConfig(): Reply {
    return ok(
      envelope({
        data: { cas_required: this.config.casRequired, delete_version_after: this.config.deleteVersionAfter, max_versions: this.config.maxVersions },
        mountType: 'kv',
      }),
    );
  }

  private writeConfig(body: Record<string, unknown>): Reply {
    if (body.max_versions !== undefined) {
      const n = weakInt(body.max_versions);
      if (n === undefined || n < 0) return fail(400, `error converting input ${JSON.stringify(body.max_versions)} for field "max_versions"`);
      this.config.maxVersions = n;
    }
    if (body.cas_required !== undefined) {
      const b = weakBool(body.cas_required);
      if (b === undefined) return fail(400, `error converting input ${JSON.stringify(body.cas_required)} for field "cas_required"`);
      this.config.casRequired = b;
    }
    if (body.delete_version_after !== undefined) this.config.deleteVersionAfter = String(body.delete_version_after);
    return noContent();
  }
}
