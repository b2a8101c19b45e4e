// The emulator's state and the rules of each RPC, with no transport. Every
// method is synchronous, so each request's checks and mutation happen within
// one tick of Node's single thread: two concurrent calls can never interleave
// between an etag check and the write it guards.
import { status } from '@grpc/grpc-js';
import { crc32c } from './crc32c';
import * as wire from './wire-behaviour';

export class RpcError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

const invalid = (message: string) => new RpcError(status.INVALID_ARGUMENT, message);

// Wire shapes, as @grpc/proto-loader decodes them from the client package's
// protos.json (camelCase fields, int64 as strings, enums as names, bytes as
// Buffer, absent fields undefined).
export interface Timestamp {
  seconds: string;
  nanos: number;
}
interface Duration {
  seconds?: string;
  nanos?: number;
}
type StringMap = Record<string, string>;

export interface SecretInput {
  name?: string;
  replication?: { automatic?: object; userManaged?: { replicas?: { location?: string }[] }; replication?: string };
  labels?: StringMap;
  annotations?: StringMap;
  versionAliases?: StringMap;
  topics?: { name?: string }[];
  expireTime?: Timestamp;
  ttl?: Duration;
  etag?: string;
  rotation?: object;
  versionDestroyTtl?: Duration;
  customerManagedEncryption?: object;
  secretType?: string;
  tags?: StringMap;
}

export interface PayloadInput {
  data?: Buffer;
  dataCrc32c?: string;
}

type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

interface StoredVersion {
  readonly number: number;
  readonly createTime: Timestamp;
  state: VersionState;
  etag: string;
  data: Buffer | undefined;
  crc32c: number | undefined;
  readonly clientSpecifiedPayloadChecksum: boolean;
  destroyTime?: Timestamp;
}

interface StoredSecret {
  readonly key: string;
  readonly name: string;
  readonly projectNumber: string;
  readonly location: string | undefined;
  readonly order: number;
  readonly createTime: Timestamp;
  readonly replication: SecretInput['replication'];
  readonly secretType: string | undefined;
  etag: string;
  labels: StringMap;
  annotations: StringMap;
  versionAliases: StringMap;
  topics: { name?: string }[];
  expireTime: Timestamp | undefined;
  rotation: object | undefined;
  readonly versions: StoredVersion[];
}

interface SecretRef {
  projectNumber: string;
  location: string | undefined;
  secretId: string;
}

// --- names -----------------------------------------------------------------

function parseParent(parent: string | undefined): { projectNumber: string; location: string | undefined } {
  const m = /^projects\/([^/]+)(?:\/locations\/([^/]+))?$/.exec(parent ?? '');
  if (!m || !wire.PROJECT_SEGMENT.test(m[1] ?? '') || (m[2] !== undefined && !wire.LOCATION_SEGMENT.test(m[2]))) {
    throw invalid(`Invalid parent "${parent ?? ''}": expected projects/{project} or projects/{project}/locations/{location}.`);
  }
  return { projectNumber: wire.projectNumberOf(m[1] as string), location: m[2] };
}

function parseSecretName(name: string | undefined, field = 'name'): SecretRef {
  const m = /^(projects\/[^/]+(?:\/locations\/[^/]+)?)\/secrets\/([^/]+)$/.exec(name ?? '');
  if (!m) throw invalid(`Invalid ${field} "${name ?? ''}": expected projects/{project}/secrets/{secret}.`);
  const secretId = m[2] as string;
  if (!wire.SECRET_ID.test(secretId)) throw invalid(`Invalid secret ID "${secretId}".`);
  return { ...parseParent(m[1]), secretId };
}

function parseVersionName(name: string | undefined): SecretRef & { version: string } {
  const m = /^(.+)\/versions\/([^/]+)$/.exec(name ?? '');
  if (!m) throw invalid(`Invalid name "${name ?? ''}": expected projects/{project}/secrets/{secret}/versions/{version}.`);
  return { ...parseSecretName(m[1]), version: m[2] as string };
}

const secretKey = (r: SecretRef) => `${r.projectNumber}/${r.location ?? ''}/${r.secretId}`;
const secretName = (r: SecretRef) =>
  r.location === undefined
    ? `projects/${r.projectNumber}/secrets/${r.secretId}`
    : `projects/${r.projectNumber}/locations/${r.location}/secrets/${r.secretId}`;
const versionName = (s: StoredSecret, v: StoredVersion) => `${s.name}/versions/${v.number}`;

// --- validation --------------------------------------------------------------

const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

function validateLabels(labels: StringMap): void {
  const entries = Object.entries(labels);
  if (entries.length > wire.MAX_LABELS) throw invalid(`At most ${wire.MAX_LABELS} labels are allowed.`);
  for (const [k, v] of entries) {
    if (!wire.LABEL_KEY.test(k) || utf8Bytes(k) > wire.MAX_LABEL_BYTES) throw invalid(`Invalid label key "${k}".`);
    if (!wire.LABEL_VALUE.test(v) || utf8Bytes(v) > wire.MAX_LABEL_BYTES) throw invalid(`Invalid value for label "${k}".`);
  }
}

function validateAnnotations(annotations: StringMap): void {
  let total = 0;
  for (const [k, v] of Object.entries(annotations)) {
    if (!wire.ANNOTATION_KEY.test(k) || utf8Bytes(k) > wire.MAX_ANNOTATION_KEY_BYTES) throw invalid(`Invalid annotation key "${k}".`);
    total += utf8Bytes(k) + utf8Bytes(v);
  }
  if (total >= wire.MAX_ANNOTATIONS_TOTAL_BYTES_EXCLUSIVE) throw invalid('The total size of annotation keys and values must be less than 16KiB.');
}

function validateAliases(aliases: StringMap, versions: readonly StoredVersion[]): void {
  const entries = Object.entries(aliases);
  if (entries.length > wire.MAX_VERSION_ALIASES) throw invalid(`At most ${wire.MAX_VERSION_ALIASES} version aliases are allowed.`);
  for (const [alias, target] of entries) {
    if (!wire.VERSION_ALIAS.test(alias) || wire.RESERVED_ALIASES.has(alias)) throw invalid(`Invalid version alias "${alias}".`);
    const n = Number(target);
    if (!Number.isSafeInteger(n) || n < 1 || n > versions.length) throw invalid(`Version alias "${alias}" names version ${target}, which does not exist.`);
  }
}

function checkEtag(given: string | undefined, current: string, what: string): void {
  if (given && given !== current) throw new RpcError(status.FAILED_PRECONDITION, wire.messages.etagMismatch(what));
}

function toMicros(t: Timestamp): bigint {
  return BigInt(t.seconds) * 1_000_000n + BigInt(Math.trunc(t.nanos / 1000));
}

function timestamp(ms: number): Timestamp {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

function expiryFrom(input: SecretInput, nowMs: number): Timestamp | undefined {
  if (input.ttl) {
    const ms = Number(input.ttl.seconds ?? 0) * 1000 + Math.trunc((input.ttl.nanos ?? 0) / 1e6);
    if (!(ms >= 0)) throw invalid('ttl must not be negative.');
    return timestamp(nowMs + ms);
  }
  return input.expireTime;
}

function normalisePath(path: string): string {
  return path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

// --- paging and filtering ---------------------------------------------------

interface PageRequest {
  pageSize?: number;
  pageToken?: string;
  filter?: string;
}

/** Items are already sorted newest first; the cursor is the sort key of the last item returned. */
function page<T>(items: T[], sortKey: (t: T) => number, scope: string, req: PageRequest): { page: T[]; nextPageToken: string; totalSize: number } {
  const pageSize = req.pageSize ?? 0;
  if (!Number.isInteger(pageSize) || pageSize < 0) throw invalid('page_size must not be negative.');
  const size = pageSize === 0 ? wire.MAX_PAGE_SIZE : Math.min(pageSize, wire.MAX_PAGE_SIZE);
  let start = 0;
  if (req.pageToken) {
    let cursor: number;
    try {
      const decoded = JSON.parse(Buffer.from(req.pageToken, 'base64url').toString('utf8')) as { s?: unknown; f?: unknown; c?: unknown };
      if (decoded.s !== scope || decoded.f !== (req.filter ?? '') || typeof decoded.c !== 'number') throw new Error('token for another list');
      cursor = decoded.c;
    } catch {
      throw invalid('Invalid page_token.');
    }
    // Newest first: continue after the last key returned, even if items were added or removed since.
    start = items.findIndex((t) => sortKey(t) < cursor);
    if (start === -1) start = items.length;
  }
  const slice = items.slice(start, start + size);
  const last = slice[slice.length - 1];
  const more = start + size < items.length && last !== undefined;
  const nextPageToken = more ? Buffer.from(JSON.stringify({ s: scope, f: req.filter ?? '', c: sortKey(last) }), 'utf8').toString('base64url') : '';
  return { page: slice, nextPageToken, totalSize: items.length };
}

type Term = { field: string; op: ':' | '='; value: string };

/**
 * [filter] supports much more (OR, NOT, comparisons on create_time). The
 * emulator takes a conjunction of `field:value` / `field=value` terms and
 * refuses anything else loudly rather than silently listing everything.
 */
function parseFilter(filter: string | undefined, allowed: (field: string) => boolean): Term[] {
  if (!filter || !filter.trim()) return [];
  const terms: Term[] = [];
  for (const token of filter.trim().split(/\s+/)) {
    if (token === 'AND') continue;
    const m = /^([a-zA-Z_][a-zA-Z0-9_.-]*)([:=])"?([^"]*)"?$/.exec(token);
    if (!m || !allowed(m[1] as string)) throw invalid(`Filter "${filter}" is not supported by the emulator (only AND-ed field:value or field=value terms).`);
    terms.push({ field: m[1] as string, op: m[2] as ':' | '=', value: m[3] as string });
  }
  return terms;
}

function matchValue(actual: string | undefined, term: Term): boolean {
  if (actual === undefined) return false;
  if (term.op === '=') return actual === term.value;
  return term.value === '*' || actual.toLowerCase().includes(term.value.toLowerCase());
}

// --- the store ----------------------------------------------------------------

export class SecretStore {
  private secrets = new Map<string, StoredSecret>();
  private order = 0;

  constructor(private readonly now: () => number = Date.now) {}

  reset(): void {
    this.secrets = new Map();
  }

  createSecret(req: { parent?: string; secretId?: string; secret?: SecretInput }): object {
    const { projectNumber, location } = parseParent(req.parent);
    const secretId = req.secretId ?? '';
    if (!wire.SECRET_ID.test(secretId)) throw invalid(`Invalid secret ID "${secretId}": up to 255 letters, digits, hyphens and underscores.`);
    const input = req.secret;
    if (!input) throw invalid('Secret must be provided.');
    if (location === undefined) {
      if (wire.REQUIRE_GLOBAL_REPLICATION && !input.replication?.automatic && !input.replication?.userManaged) throw invalid('Secret.replication must be provided.');
    } else if (input.replication?.automatic || input.replication?.userManaged) {
      throw invalid('Secret.replication should not be provided.');
    }
    if (input.replication?.userManaged && !(input.replication.userManaged.replicas ?? []).length) throw invalid('Secret.replication.user_managed.replicas must not be empty.');
    if (input.versionDestroyTtl || input.customerManagedEncryption) throw new RpcError(status.UNIMPLEMENTED, 'Delayed destroy and customer-managed encryption are not emulated.');
    const labels = input.labels ?? {};
    const annotations = input.annotations ?? {};
    const versionAliases = input.versionAliases ?? {};
    validateLabels(labels);
    validateAnnotations(annotations);
    validateAliases(versionAliases, []);
    const ref = { projectNumber, location, secretId };
    const key = secretKey(ref);
    const nowMs = this.now();
    const expireTime = expiryFrom(input, nowMs);
    this.sweepExpired(key);
    if (this.secrets.has(key)) throw new RpcError(status.ALREADY_EXISTS, wire.messages.alreadyExists(secretName(ref)));
    const secret: StoredSecret = {
      key,
      name: secretName(ref),
      projectNumber,
      location,
      order: ++this.order,
      createTime: timestamp(nowMs),
      replication: input.replication,
      secretType: input.secretType,
      etag: wire.nextEtag(),
      labels: { ...labels },
      annotations: { ...annotations },
      versionAliases: {},
      topics: input.topics ?? [],
      expireTime,
      rotation: input.rotation,
      versions: [],
    };
    this.secrets.set(key, secret);
    return this.secretOut(secret);
  }

  getSecret(req: { name?: string }): object {
    return this.secretOut(this.findSecret(parseSecretName(req.name)));
  }

  updateSecret(req: { secret?: SecretInput; updateMask?: { paths?: string[] } }): object {
    const input = req.secret;
    if (!input) throw invalid('Secret must be provided.');
    const secret = this.findSecret(parseSecretName(input.name, 'secret.name'));
    const paths = (req.updateMask?.paths ?? []).map(normalisePath);
    if (wire.REQUIRE_UPDATE_MASK && paths.length === 0) throw invalid('update_mask must name at least one field.');
    for (const p of paths) {
      if (wire.NOT_EMULATED_PATHS.has(p)) throw new RpcError(status.UNIMPLEMENTED, `Updating ${p} is not emulated.`);
      if (!wire.UPDATABLE_PATHS.has(p)) throw invalid(`update_mask path "${p}" is not an updatable field.`);
    }
    const want = new Set(paths);
    const labels = want.has('labels') ? (input.labels ?? {}) : secret.labels;
    const annotations = want.has('annotations') ? (input.annotations ?? {}) : secret.annotations;
    const versionAliases = want.has('version_aliases') ? (input.versionAliases ?? {}) : secret.versionAliases;
    validateLabels(labels);
    validateAnnotations(annotations);
    validateAliases(versionAliases, secret.versions);
    const expireTime = want.has('expire_time') || want.has('ttl') ? expiryFrom(input, this.now()) : secret.expireTime;
    checkEtag(input.etag, secret.etag, 'secret');
    secret.labels = { ...labels };
    secret.annotations = { ...annotations };
    secret.versionAliases = { ...versionAliases };
    secret.expireTime = expireTime;
    if (want.has('topics')) secret.topics = input.topics ?? [];
    if (want.has('rotation')) secret.rotation = input.rotation;
    secret.etag = wire.nextEtag();
    return this.secretOut(secret);
  }

  deleteSecret(req: { name?: string; etag?: string }): object {
    const secret = this.findSecret(parseSecretName(req.name));
    checkEtag(req.etag, secret.etag, 'secret');
    this.secrets.delete(secret.key);
    return {};
  }

  listSecrets(req: { parent?: string } & PageRequest): object {
    const { projectNumber, location } = parseParent(req.parent);
    const terms = parseFilter(req.filter, (f) => f === 'name' || /^labels\.[^.]+$/.test(f));
    this.sweepExpired();
    const matching = [...this.secrets.values()]
      .filter((s) => s.projectNumber === projectNumber && s.location === location)
      .filter((s) => terms.every((t) => matchValue(t.field === 'name' ? s.name : s.labels[t.field.slice('labels.'.length)], t)))
      .sort((a, b) => b.order - a.order);
    const { page: secrets, nextPageToken, totalSize } = page(matching, (s) => s.order, `secrets:${projectNumber}/${location ?? ''}`, req);
    return { secrets: secrets.map((s) => this.secretOut(s)), nextPageToken, totalSize };
  }

  addSecretVersion(req: { parent?: string; payload?: PayloadInput }): object {
    const secret = this.findSecret(parseSecretName(req.parent, 'parent'));
    const payload = req.payload;
    const data = payload?.data ?? Buffer.alloc(0);
    if (!payload || (wire.REJECT_EMPTY_PAYLOAD && data.length === 0)) throw invalid('Secret Payload cannot be empty.');
    if (data.length > wire.MAX_PAYLOAD_BYTES) throw invalid(`Secret Payload must be no larger than ${wire.MAX_PAYLOAD_BYTES} bytes.`);
    const actual = crc32c(data);
    const given = payload.dataCrc32c;
    if (given !== undefined && given !== String(actual)) throw new RpcError(wire.CHECKSUM_MISMATCH_CODE, 'Checksum mismatch: data_crc32c does not match the CRC32C of data.');
    const version: StoredVersion = {
      number: secret.versions.length + 1,
      createTime: timestamp(this.now()),
      state: 'ENABLED',
      etag: wire.nextEtag(),
      data: Buffer.from(data),
      crc32c: actual,
      clientSpecifiedPayloadChecksum: given !== undefined,
    };
    secret.versions.push(version);
    return this.versionOut(secret, version);
  }

  accessSecretVersion(req: { name?: string }): object {
    const { secret, version } = this.resolveVersion(req.name, { aliases: true });
    if (version.state !== 'ENABLED') throw new RpcError(status.FAILED_PRECONDITION, wire.messages.notEnabled(versionName(secret, version), version.state));
    return {
      name: versionName(secret, version),
      payload: { data: version.data, dataCrc32c: String(version.crc32c) },
    };
  }

  getSecretVersion(req: { name?: string }): object {
    const { secret, version } = this.resolveVersion(req.name, { aliases: true });
    return this.versionOut(secret, version);
  }

  listSecretVersions(req: { parent?: string } & PageRequest): object {
    const secret = this.findSecret(parseSecretName(req.parent, 'parent'));
    const terms = parseFilter(req.filter, (f) => f === 'state' || f === 'name');
    const matching = [...secret.versions]
      .reverse()
      .filter((v) => terms.every((t) => matchValue(t.field === 'state' ? v.state : versionName(secret, v), t)));
    const { page: versions, nextPageToken, totalSize } = page(matching, (v) => v.number, `versions:${secret.key}:${secret.order}`, req);
    return { versions: versions.map((v) => this.versionOut(secret, v)), nextPageToken, totalSize };
  }

  enableSecretVersion(req: { name?: string; etag?: string }): object {
    return this.transition(req, 'ENABLED');
  }

  disableSecretVersion(req: { name?: string; etag?: string }): object {
    return this.transition(req, 'DISABLED');
  }

  destroySecretVersion(req: { name?: string; etag?: string }): object {
    return this.transition(req, 'DESTROYED');
  }

  private transition(req: { name?: string; etag?: string }, to: VersionState): object {
    const { secret, version } = this.resolveVersion(req.name, { aliases: false });
    checkEtag(req.etag, version.etag, 'secret version');
    if (version.state === 'DESTROYED') throw new RpcError(wire.DESTROYED_IS_TERMINAL_CODE, wire.messages.notEnabled(versionName(secret, version), version.state));
    version.state = to;
    if (to === 'DESTROYED') {
      version.data?.fill(0);
      version.data = undefined;
      version.crc32c = undefined;
      version.destroyTime = timestamp(this.now());
    }
    version.etag = wire.nextEtag();
    return this.versionOut(secret, version);
  }

  private findSecret(ref: SecretRef): StoredSecret {
    const key = secretKey(ref);
    this.sweepExpired(key);
    const secret = this.secrets.get(key);
    if (!secret) throw new RpcError(status.NOT_FOUND, wire.messages.secretNotFound(secretName(ref)));
    return secret;
  }

  /** Expired secrets are deleted by the real service; here, lazily when next touched. */
  private sweepExpired(key?: string): void {
    const nowMicros = BigInt(this.now()) * 1000n;
    const candidates = key === undefined ? [...this.secrets.values()] : [this.secrets.get(key)];
    for (const s of candidates) if (s?.expireTime && toMicros(s.expireTime) <= nowMicros) this.secrets.delete(s.key);
  }

  private resolveVersion(name: string | undefined, opts: { aliases: boolean }): { secret: StoredSecret; version: StoredVersion } {
    const ref = parseVersionName(name);
    const secret = this.findSecret(ref);
    const id = ref.version;
    let version: StoredVersion | undefined;
    if (/^\d+$/.test(id)) {
      version = secret.versions[Number(id) - 1];
    } else if (id === 'latest' && opts.aliases) {
      const candidates = wire.LATEST_RESOLVES_TO === 'newest-enabled' ? secret.versions.filter((v) => v.state === 'ENABLED') : secret.versions;
      version = candidates[candidates.length - 1];
    } else if (opts.aliases && wire.VERSION_ALIAS.test(id)) {
      const target = secret.versionAliases[id];
      version = target === undefined ? undefined : secret.versions[Number(target) - 1];
    } else {
      throw invalid(`Invalid version "${id}": expected a version number${opts.aliases ? ', "latest" or an alias' : ''}.`);
    }
    if (!version) throw new RpcError(status.NOT_FOUND, wire.messages.versionNotFound(`${secret.name}/versions/${id}`));
    return { secret, version };
  }

  private secretOut(s: StoredSecret): object {
    return {
      name: s.name,
      replication: s.replication,
      createTime: s.createTime,
      labels: s.labels,
      annotations: s.annotations,
      versionAliases: s.versionAliases,
      topics: s.topics,
      expireTime: s.expireTime,
      etag: s.etag,
      rotation: s.rotation,
      secretType: s.secretType,
    };
  }

  private versionOut(s: StoredSecret, v: StoredVersion): object {
    const replicationStatus = s.location !== undefined
      ? undefined
      : s.replication?.userManaged
        ? { userManaged: { replicas: (s.replication.userManaged.replicas ?? []).map((r) => ({ location: r.location })) } }
        : { automatic: {} };
    return {
      name: versionName(s, v),
      createTime: v.createTime,
      destroyTime: v.destroyTime,
      state: v.state,
      replicationStatus,
      etag: v.etag,
      clientSpecifiedPayloadChecksum: v.clientSpecifiedPayloadChecksum,
    };
  }
}
