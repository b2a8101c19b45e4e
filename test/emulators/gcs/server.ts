// An emulator of the few Cloud Storage JSON API calls the checkpoint witness
// makes, so that the official @google-cloud/storage client runs against it
// unmodified (through its `apiEndpoint`). It follows Google's reference:
//   buckets insert/get, lockRetentionPolicy
//     https://cloud.google.com/storage/docs/json_api/v1/buckets
//   objects insert (uploadType=media|multipart), get (alt=media), list, delete
//     https://cloud.google.com/storage/docs/json_api/v1/objects
//   preconditions (ifGenerationMatch=0: "only if there is no live object")
//     https://cloud.google.com/storage/docs/request-preconditions
//   retention policies: an object "cannot be deleted or replaced until it
//   reaches the specified age"; a locked policy cannot be removed or reduced
//     https://cloud.google.com/storage/docs/bucket-lock
// Errors use the JSON API's shape: {"error": {"code", "message", "errors":
// [{"reason", "message"}]}} with the documented reasons (notFound,
// conditionNotMet, retentionPolicyNotMet, invalid). Where the reference is
// silent the choice is noted beside it.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32c } from '../gcp-secret-manager/crc32c';

interface StoredObject {
  readonly name: string;
  readonly generation: number;
  readonly data: Buffer;
  readonly contentType: string;
  readonly created: number;
}

interface Bucket {
  readonly name: string;
  metageneration: number;
  retentionSeconds: number | null;
  retentionEffective: number | null;
  locked: boolean;
  readonly objects: Map<string, StoredObject>;
}

export interface GcsEmulatorOptions {
  readonly host?: string;
  readonly port?: number;
  /** ms since the epoch; retention is judged by it. */
  readonly now?: () => number;
}

export interface GcsEmulator {
  /** http://127.0.0.1:PORT, for the client's `apiEndpoint`. */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

class GcsError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startGcsEmulator(opts: GcsEmulatorOptions = {}): Promise<GcsEmulator> {
  const now = opts.now ?? Date.now;
  const buckets = new Map<string, Bucket>();
  let generations = 1_700_000_000_000_000;

  const bucketOf = (name: string): Bucket => {
    const b = buckets.get(name);
    if (!b) throw new GcsError(404, 'notFound', 'The specified bucket does not exist.');
    return b;
  };

  const bucketResource = (b: Bucket) => ({
    kind: 'storage#bucket',
    id: b.name,
    name: b.name,
    metageneration: String(b.metageneration),
    ...(b.retentionSeconds !== null
      ? { retentionPolicy: { retentionPeriod: String(b.retentionSeconds), effectiveTime: new Date(b.retentionEffective!).toISOString(), isLocked: b.locked } }
      : {}),
  });

  const retainedUntil = (b: Bucket, o: StoredObject): number | null => (b.retentionSeconds === null ? null : o.created + b.retentionSeconds * 1000);

  const objectResource = (b: Bucket, o: StoredObject) => {
    const until = retainedUntil(b, o);
    return {
      kind: 'storage#object',
      id: `${b.name}/${o.name}/${o.generation}`,
      bucket: b.name,
      name: o.name,
      generation: String(o.generation),
      metageneration: '1',
      contentType: o.contentType,
      size: String(o.data.length),
      md5Hash: createHash('md5').update(o.data).digest('base64'),
      crc32c: crc32cBase64(o.data),
      timeCreated: new Date(o.created).toISOString(),
      updated: new Date(o.created).toISOString(),
      ...(until !== null ? { retentionExpirationTime: new Date(until).toISOString() } : {}),
    };
  };

  const refuseIfRetained = (b: Bucket, o: StoredObject, verb: string) => {
    const until = retainedUntil(b, o);
    if (until !== null && until > now()) {
      throw new GcsError(403, 'retentionPolicyNotMet', `Object '${b.name}/${o.name}' is subject to bucket's retention policy or object retention and cannot be ${verb} until '${new Date(until).toISOString()}'`);
    }
  };

  const insertObject = (b: Bucket, name: string, data: Buffer, contentType: string, q: URLSearchParams) => {
    if (!name) throw new GcsError(400, 'required', 'Required');
    const live = b.objects.get(name);
    const match = q.get('ifGenerationMatch');
    if (match !== null && String(live?.generation ?? 0) !== match) throw new GcsError(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
    if (live) refuseIfRetained(b, live, 'deleted, overwritten or archived');
    const o: StoredObject = { name, generation: ++generations, data, contentType, created: now() };
    b.objects.set(name, o);
    return objectResource(b, o);
  };

  const handle = async (req: IncomingMessage, body: Buffer): Promise<{ status: number; json?: unknown; raw?: Buffer; headers?: Record<string, string> }> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    const path = url.pathname.split('/').map(decodeURIComponent);
    // ['', 'storage', 'v1', 'b', bucket, 'o', object] or ['', 'upload', 'storage', 'v1', 'b', bucket, 'o']
    const method = req.method ?? 'GET';
    if (path[1] === 'upload' && path[4] === 'b' && path[6] === 'o' && method === 'POST') {
      const b = bucketOf(path[5]!);
      const type = q.get('uploadType');
      if (type === 'media') return { status: 200, json: insertObject(b, q.get('name') ?? '', body, req.headers['content-type'] ?? 'application/octet-stream', q) };
      if (type === 'multipart') {
        const { metadata, data, contentType } = parseMultipart(req.headers['content-type'] ?? '', body);
        return { status: 200, json: insertObject(b, q.get('name') ?? String(metadata.name ?? ''), data, String(metadata.contentType ?? contentType), q) };
      }
      // Resumable uploads are not emulated: the witness never starts one.
      throw new GcsError(400, 'invalid', `uploadType ${type ?? '(none)'} is not emulated`);
    }
    if (path[1] !== 'storage' || path[2] !== 'v1' || path[3] !== 'b') throw new GcsError(404, 'notFound', 'Not Found');
    if (path.length === 4 || (path.length === 5 && path[4] === '')) {
      if (method !== 'POST') throw new GcsError(405, 'invalid', 'method');
      const r = JSON.parse(body.toString() || '{}') as { name?: string; retentionPolicy?: { retentionPeriod?: string | number } };
      if (!r.name) throw new GcsError(400, 'invalid', 'Invalid bucket name');
      if (buckets.has(r.name)) throw new GcsError(409, 'conflict', 'Your previous request to create the named bucket succeeded and you already own it.');
      const period = r.retentionPolicy?.retentionPeriod;
      const b: Bucket = { name: r.name, metageneration: 1, retentionSeconds: period === undefined ? null : Number(period), retentionEffective: period === undefined ? null : now(), locked: false, objects: new Map() };
      buckets.set(b.name, b);
      return { status: 200, json: bucketResource(b) };
    }
    const b = bucketOf(path[4]!);
    if (path.length === 5) {
      if (method === 'GET') return { status: 200, json: bucketResource(b) };
      throw new GcsError(405, 'invalid', 'method');
    }
    if (path[5] === 'lockRetentionPolicy' && method === 'POST') {
      if (String(b.metageneration) !== q.get('ifMetagenerationMatch')) throw new GcsError(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
      if (b.retentionSeconds === null) throw new GcsError(400, 'invalid', 'The bucket has no retention policy to lock.');
      b.locked = true;
      b.metageneration++;
      return { status: 200, json: bucketResource(b) };
    }
    if (path[5] !== 'o') throw new GcsError(404, 'notFound', 'Not Found');
    if (path.length === 6 || path[6] === '') {
      if (method !== 'GET') throw new GcsError(405, 'invalid', 'method');
      const prefix = q.get('prefix') ?? '';
      const max = Math.min(Number(q.get('maxResults') ?? 1000) || 1000, 1000);
      const names = [...b.objects.keys()].filter((n) => n.startsWith(prefix)).sort();
      const from = q.get('pageToken') ? names.findIndex((n) => n > Buffer.from(q.get('pageToken')!, 'base64url').toString()) : 0;
      const page = from < 0 ? [] : names.slice(from, from + max);
      const more = from >= 0 && from + max < names.length;
      return {
        status: 200,
        json: { kind: 'storage#objects', items: page.map((n) => objectResource(b, b.objects.get(n)!)), ...(more ? { nextPageToken: Buffer.from(page[page.length - 1]!).toString('base64url') } : {}) },
      };
    }
    const name = path.slice(6).join('/');
    const o = b.objects.get(name);
    const gen = q.get('generation');
    if (!o || (gen !== null && gen !== String(o.generation))) throw new GcsError(404, 'notFound', `No such object: ${b.name}/${name}`);
    if (method === 'GET') {
      if (q.get('alt') === 'media') {
        return {
          status: 200,
          raw: o.data,
          headers: {
            'content-type': o.contentType,
            'x-goog-generation': String(o.generation),
            'x-goog-stored-content-encoding': 'identity',
            'x-goog-hash': `crc32c=${crc32cBase64(o.data)},md5=${createHash('md5').update(o.data).digest('base64')}`,
          },
        };
      }
      return { status: 200, json: objectResource(b, o) };
    }
    if (method === 'DELETE') {
      refuseIfRetained(b, o, 'deleted');
      b.objects.delete(name);
      return { status: 204 };
    }
    throw new GcsError(405, 'invalid', 'method');
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, Buffer.concat(chunks)).then(
        (r) => {
          if (r.raw) {
            res.writeHead(r.status, r.headers ?? {});
            res.end(r.raw);
          } else if (r.json !== undefined) {
            res.writeHead(r.status, { 'content-type': 'application/json; charset=UTF-8' });
            res.end(JSON.stringify(r.json));
          } else {
            res.writeHead(r.status);
            res.end();
          }
        },
        (e: unknown) => {
          const err = e instanceof GcsError ? e : new GcsError(400, 'invalid', 'Invalid request');
          res.writeHead(err.status, { 'content-type': 'application/json; charset=UTF-8' });
          res.end(JSON.stringify({ error: { code: err.status, message: err.message, errors: [{ reason: err.reason, message: err.message, domain: 'global' }] } }));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    address: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function crc32cBase64(data: Buffer): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32c(data));
  return b.toString('base64');
}

/** multipart/related: a JSON metadata part, then the media part (objects insert, uploadType=multipart). */
function parseMultipart(contentType: string, body: Buffer): { metadata: Record<string, unknown>; data: Buffer; contentType: string } {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) throw new GcsError(400, 'invalid', 'multipart upload without a boundary');
  const text = body.toString('latin1');
  const parts = text.split(`--${boundary}`).slice(1, -1);
  if (parts.length !== 2) throw new GcsError(400, 'invalid', 'multipart upload must have a metadata part and a media part');
  const split = (p: string) => {
    const at = p.indexOf('\r\n\r\n');
    const head = p.slice(0, at);
    const content = p.slice(at + 4).replace(/\r\n$/, '');
    return { type: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1] ?? 'application/octet-stream', content };
  };
  const meta = split(parts[0]!);
  const media = split(parts[1]!);
  return { metadata: JSON.parse(Buffer.from(meta.content, 'latin1').toString('utf8')) as Record<string, unknown>, data: Buffer.from(media.content, 'latin1'), contentType: media.type };
}
