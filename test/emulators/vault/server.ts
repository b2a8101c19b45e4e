// A stateful HashiCorp Vault emulator on Vault's own HTTP API, so that
// node-vault and plain fetch work against it unmodified as against a dev
// server: KV v2 mounts, kubernetes and approle login, token lookup/renew,
// sys/health, seal, a minimal ACL, and per-operation faults.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { FaultController } from '../faults';
import type { EmulatorHandle } from '../faults';
import { AuthState } from './auth';
import type { AppRole, Capability, KubernetesRole, PolicyRule, TokenEntry } from './auth';
import { KvV2Mount } from './kv';
import type { KvOperation } from './kv';
import { MSG, fail, noContent, ok } from './wire';
import type { Reply } from './wire';

export type { AppRole, Capability, KubernetesRole, PolicyRule } from './auth';

export interface VaultEmulatorOptions {
  host?: string;
  port?: number;
  /** Default: a random `hvs.` token, as `vault server -dev` prints. */
  rootToken?: string;
  /** The clock for token expiry and timestamps, in ms since the epoch. */
  now?: () => number;
  /** KV v2 mounts besides `secret/`, e.g. `['kv']`. */
  kvMounts?: string[];
  /** Reported by /sys/health. */
  version?: string;
}

export interface VaultEmulator extends EmulatorHandle {
  /** "http://127.0.0.1:PORT" */
  readonly address: string;
  readonly port: number;
  /** The root token. */
  readonly token: string;
  readonly kubernetes: { addRole(name: string, opts: KubernetesRole): void };
  readonly approle: { addRole(name: string, opts: AppRole): void };
  /** Stand-in for `vault policy write`: HCL is not parsed, rules come as data. */
  setPolicy(name: string, rules: PolicyRule[]): void;
  /** Issue a token directly, as an auth method would (`default` policy added). */
  createToken(opts: { policies: string[]; ttlSeconds: number; maxTtlSeconds?: number }): string;
  /** Enable a KV v2 mount, as `vault secrets enable -version=2 -path=<path> kv`. */
  mountKv(path: string): void;
  seal(): void;
  unseal(): void;
  setStandby(standby: boolean): void;
  /**
   * Answer KV reads as a performance standby whose replication stopped now:
   * until cleared, reads and lists see the state as of this call, writes go
   * on (standbys forward them to the active node), and only a request with
   * `X-Vault-Forward: active-node` sees the active node's state. Vault
   * Enterprise's performance standbys are eventually consistent
   * (https://developer.hashicorp.com/vault/docs/enterprise/consistency);
   * that header is its "unconditional forwarding" to the active node.
   */
  setPerformanceStandbyLag(lagging: boolean): void;
  setInitialized(initialized: boolean): void;
  /** Resolves once the port is listening again (after `down` is cleared). */
  listening(): Promise<void>;
}

const DEFAULT_MOUNT = 'secret/';
const UNAUTHENTICATED_LOGINS: Record<string, 'kubernetes' | 'approle'> = {
  'auth/kubernetes/login': 'kubernetes',
  'auth/approle/login': 'approle',
};

type Method = 'GET' | 'PUT' | 'DELETE' | 'LIST' | 'PATCH' | 'HEAD';

const normMount = (p: string): string => `${p.replace(/^\/+|\/+$/g, '')}/`;

function parseBool(v: string): boolean | undefined {
  // Go's strconv.ParseBool, which Vault's parseutil.ParseBool falls back to.
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  return undefined;
}

export async function startVaultEmulator(opts: VaultEmulatorOptions = {}): Promise<VaultEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const now = opts.now ?? Date.now;
  const version = opts.version ?? '1.17.0';
  const faults = new FaultController();
  const auth = new AuthState(now, opts.rootToken ?? `hvs.${randomBytes(18).toString('hex')}`);
  const mounts = new Map<string, KvV2Mount>();
  const clusterId = randomUUID();
  let sealed = false;
  let standby = false;
  let initialized = true;
  /** The lagging standby's view, per mount, while one is simulated. */
  let standbyView: Map<string, KvV2Mount> | null = null;

  const resetMounts = () => {
    mounts.clear();
    for (const m of [DEFAULT_MOUNT, ...(opts.kvMounts ?? [])]) mounts.set(normMount(m), new KvV2Mount(now));
  };
  resetMounts();

  /** The longest mount that prefixes `path`, as Vault's router picks it. */
  const resolveMount = (path: string): { mount: string; kv: KvV2Mount; rest: string } | undefined => {
    let best: string | undefined;
    for (const m of mounts.keys()) if ((path.startsWith(m) || `${path}/` === m) && (best === undefined || m.length > best.length)) best = m;
    const kv = best === undefined ? undefined : mounts.get(best);
    return best === undefined || !kv ? undefined : { mount: best, kv, rest: path.slice(best.length) };
  };

  /** The fault key's route family, e.g. "data" in "PUT data". */
  const kindOf = (path: string): string => {
    if (path === 'sys/health') return 'health';
    if (path in UNAUTHENTICATED_LOGINS) return 'login';
    if (path === 'auth/token/lookup-self') return 'lookup-self';
    if (path === 'auth/token/renew-self') return 'renew-self';
    const r = resolveMount(path);
    if (r) return r.rest.split('/')[0] || 'other';
    return path.startsWith('sys/') ? 'sys' : 'other';
  };

  const health = (method: Method, query: URLSearchParams): Reply => {
    if (method !== 'GET' && method !== 'HEAD') return fail(405);
    const flag = (name: string): boolean | string => {
      const raw = query.get(name);
      if (raw === null) return false;
      return parseBool(raw) ?? `bad value for ${name} parameter`;
    };
    const code = (name: string, dflt: number): number | string => {
      const raw = query.get(name);
      if (raw === null) return dflt;
      return /^\d+$/.test(raw) ? Number(raw) : `bad code for ${name} parameter`;
    };
    const standbyOk = flag('standbyok');
    const perfStandbyOk = flag('perfstandbyok');
    const codes = { active: code('activecode', 200), standby: code('standbycode', 429), sealed: code('sealedcode', 503), uninit: code('uninitcode', 501) };
    for (const v of [standbyOk, perfStandbyOk, ...Object.values(codes)]) if (typeof v === 'string') return fail(400, v);
    const isSealed = sealed || !initialized;
    // sys_health.go: uninitialised, then sealed, then standby (unless standbyok).
    const status = !initialized ? codes.uninit : sealed ? codes.sealed : standby && standbyOk !== true ? codes.standby : codes.active;
    const t = now();
    const body = {
      initialized,
      sealed: isSealed,
      standby: isSealed || standby,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(t / 1000),
      version,
      enterprise: false,
      ...(isSealed ? {} : { cluster_name: 'vault-cluster-emulator', cluster_id: clusterId }),
      echo_duration_ms: 0,
      clock_skew_ms: 0,
      replication_primary_canary_age_ms: 0,
      removed_from_cluster: false,
    };
    return { status: status as number, body };
  };

  /** The request, once it has passed the fault, seal and token checks. */
  const route = async (method: Method, path: string, query: URLSearchParams, body: Record<string, unknown>, token: TokenEntry, forwarded: boolean): Promise<Reply> => {
    // Only sys/health answers HEAD; Vault's logical handler has no HEAD operation.
    if (method === 'HEAD') return { status: 405 };
    if (path === 'auth/token/lookup-self') {
      return method === 'GET' || method === 'PUT' ? auth.lookupSelf(token) : fail(405, MSG.unsupportedOperation);
    }
    if (path === 'auth/token/renew-self') return method === 'PUT' ? auth.renewSelf(token, body) : fail(405, MSG.unsupportedOperation);

    const deny = (capability: Capability): Reply | undefined => (auth.allowed(token, path, capability) ? undefined : fail(403, MSG.permissionDenied));

    if (path.startsWith('sys/mounts/')) {
      const mount = normMount(path.slice('sys/mounts/'.length));
      if (method === 'PUT') {
        const denied = deny('update');
        if (denied) return denied;
        if (mounts.has(mount)) return fail(400, MSG.pathInUse(mount));
        const options = (body.options ?? {}) as Record<string, unknown>;
        // Only what keyhold needs: KV version 2. Other engines are out of scope.
        if (body.type !== 'kv' || String(options.version) !== '2') return fail(400, 'emulator: only {type:"kv", options:{version:"2"}} mounts are supported');
        mounts.set(mount, new KvV2Mount(now));
        return noContent();
      }
      if (method === 'DELETE') {
        const denied = deny('delete');
        if (denied) return denied;
        mounts.delete(mount);
        return noContent();
      }
      return fail(405, MSG.unsupportedOperation);
    }
    if (path === 'sys/seal' && method === 'PUT') {
      const denied = deny('sudo');
      if (denied) return denied;
      sealed = true;
      return noContent();
    }

    const r = resolveMount(path);
    const op: KvOperation = ({ GET: 'read', LIST: 'list', PUT: 'write', DELETE: 'delete', PATCH: 'patch' } as const)[method];
    const capability: Capability =
      op === 'write' ? (r && /^(data|metadata)\//.test(r.rest) && !r.kv.exists(r.rest) ? 'create' : 'update') : op === 'list' ? 'list' : op;
    const denied = deny(capability);
    if (denied) return denied;
    if (!r) return fail(404, MSG.noHandler(path));
    const lagging = !forwarded && (op === 'read' || op === 'list') ? standbyView?.get(r.mount) : undefined;
    return (lagging ?? r.kv).handle(op, r.rest, query, body);
  };

  const handleRequest = async (req: IncomingMessage, res: ServerResponse): Promise<Reply | 'hang' | 'reset'> => {
    const url = new URL(req.url ?? '/', 'http://vault');
    // Vault serves through Go's http.ServeMux, which answers an unclean path
    // (`//`, `/./`, `/../`) with a 301 to the cleaned one before any handler runs.
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
    if (/\/\/|\/\.\.?(\/|$)/.test(rawPath)) {
      return { status: 301, headers: { Location: cleanPath(rawPath) + url.search, 'Content-Type': 'text/html; charset=utf-8' }, text: `<a href="${cleanPath(rawPath)}">Moved Permanently</a>.\n\n` };
    }
    if (!url.pathname.startsWith('/v1/')) return { status: 404, body: { errors: [] } };
    let path = decodeURIComponent(url.pathname.slice('/v1/'.length));
    const listParam = url.searchParams.get('list');
    const raw = (req.method ?? 'GET').toUpperCase();
    let method: Method;
    if (raw === 'POST' || raw === 'PUT') method = 'PUT';
    else if (raw === 'GET' && listParam !== null && parseBool(listParam) === true) method = 'LIST';
    else if (raw === LIST_STANDIN) method = 'LIST';
    else if (raw === 'GET' || raw === 'DELETE' || raw === 'LIST' || raw === 'PATCH' || raw === 'HEAD') method = raw;
    else return { status: 405, body: { errors: [] } };
    // Vault's HTTP layer lists directories: a LIST always ends in '/'.
    if (method === 'LIST' && !path.endsWith('/')) path += '/';

    const fault = faults.take(`${method} ${kindOf(path)}`);
    if (fault?.kind === 'hang') return 'hang';
    if (fault?.kind === 'reset') return 'reset';
    if (fault?.kind === 'error') return fail(500, MSG.internal);
    if (fault?.kind === 'throttle') return { ...fail(429, MSG.rateLimited(path)), headers: { 'Retry-After': '1' } };
    if (fault?.kind === 'latency') await new Promise((r) => setTimeout(r, fault.ms));

    const text = await readBody(req);
    if (res.destroyed) return 'reset';
    if (method === 'PATCH' && !(req.headers['content-type'] ?? '').startsWith('application/merge-patch+json')) {
      return fail(415, MSG.patchContentType(req.headers['content-type'] ?? ''));
    }
    let body: Record<string, unknown> = {};
    if (text.trim() !== '') {
      try {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
      } catch (e) {
        return fail(400, MSG.badJson((e as Error).message));
      }
    }

    if (path === 'sys/health') return health(method, url.searchParams);
    if (path === 'sys/seal-status' && method === 'GET') {
      return ok({ type: 'shamir', initialized, sealed: sealed || !initialized, t: 1, n: 1, progress: 0, nonce: '', version, build_date: '', migration: false, recovery_seal: false, storage_type: 'inmem' });
    }
    if (sealed || !initialized) return fail(503, MSG.sealed);

    const login = UNAUTHENTICATED_LOGINS[path];
    if (login !== undefined) {
      if (method !== 'PUT') return fail(405, MSG.unsupportedOperation);
      return login === 'kubernetes' ? auth.kubernetesLogin(body) : auth.appRoleLogin(body);
    }

    const header = req.headers['x-vault-token'];
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const token = auth.lookup((Array.isArray(header) ? header[0] : header) ?? bearer);
    if (!token) return fail(403, MSG.permissionDenied);
    return route(method, path, url.searchParams, body, token, req.headers['x-vault-forward'] === 'active-node');
  };

  const httpServer = createServer((req, res) => {
    handleRequest(req, res).then(
      (reply) => {
        if (reply === 'hang') return;
        if (reply === 'reset') {
          req.socket.destroy();
          return;
        }
        send(res, reply, req.method === 'HEAD');
      },
      () => send(res, fail(500, MSG.internal), false),
    );
  });
  // The HTTP server never listens itself: connections arrive through a TCP
  // listener that lets LIST requests past Node's HTTP parser (see acceptListVerb).
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    httpServer.emit('connection', acceptListVerb(socket));
  });

  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  const port = await listen(opts.port ?? 0);

  // 'down' closes the port and every open connection; clearing it rebinds the
  // same port, so clients pointed at `address` reconnect without reconfiguring.
  let transition: Promise<void> = Promise.resolve();
  const unsubscribe = faults.onDownChange((down) => {
    transition = transition.then(async () => {
      if (down) {
        if (!server.listening) return;
        const closed = new Promise<void>((r) => server.close(() => r()));
        for (const s of sockets) s.destroy();
        await closed;
      } else if (!server.listening) {
        await listen(port);
      }
    });
  });

  return {
    address: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    token: auth.rootToken,
    faults,
    kubernetes: { addRole: (name, role) => auth.addKubernetesRole(name, role) },
    approle: { addRole: (name, role) => auth.addAppRole(name, role) },
    setPolicy: (name, rules) => auth.setPolicy(name, rules),
    createToken: (o) => auth.issue({ ...o, path: 'auth/token/create', displayName: 'token' }).id,
    mountKv: (path) => {
      if (!mounts.has(normMount(path))) mounts.set(normMount(path), new KvV2Mount(now));
    },
    seal: () => {
      sealed = true;
    },
    unseal: () => {
      sealed = false;
    },
    setStandby: (b) => {
      standby = b;
    },
    setPerformanceStandbyLag: (lagging) => {
      standbyView = lagging ? new Map([...mounts].map(([m, kv]) => [m, kv.snapshot()])) : null;
    },
    setInitialized: (b) => {
      initialized = b;
    },
    listening: () => transition,
    reset: () => {
      auth.reset();
      resetMounts();
      sealed = false;
      standby = false;
      initialized = true;
    },
    close: async () => {
      unsubscribe();
      await transition;
      if (!server.listening) return;
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** What a LIST request line is rewritten to: a verb of the same length that Node parses and Vault never receives. */
const LIST_STANDIN = 'LOCK';

/**
 * Node's HTTP parser rejects unknown verbs with a bare 400, but Vault and
 * node-vault's `list()` use `LIST`. Rewrite `LIST ` at the start of each
 * incoming chunk (clients send a request line first and do not pipeline) to
 * `LOCK `, same length so nothing else shifts, and hand the HTTP server a
 * stream instead of the socket.
 */
function acceptListVerb(socket: Socket): Duplex {
  const LIST = Buffer.from('LIST ');
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  // What http.Server calls on its sockets; timeouts are left to the client.
  Object.assign(stream, { setTimeout: () => stream, setNoDelay: () => stream, setKeepAlive: () => stream, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort });
  socket.on('data', (chunk: Buffer) => {
    if (chunk.subarray(0, LIST.length).equals(LIST)) chunk = Buffer.concat([Buffer.from(LIST_STANDIN), chunk.subarray(LIST_STANDIN.length)]);
    stream.push(chunk);
  });
  socket.on('end', () => stream.push(null));
  socket.on('close', () => stream.destroy());
  socket.on('error', () => stream.destroy());
  return stream;
}

/** Go's path.Clean, keeping a trailing slash as ServeMux does. */
function cleanPath(p: string): string {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}${p.endsWith('/') && out.length > 0 ? '/' : ''}`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(''));
    req.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function send(res: ServerResponse, reply: Reply, head: boolean): void {
  if (res.destroyed || res.headersSent) return;
  const headers: Record<string, string> = { 'Cache-Control': 'no-store', ...reply.headers };
  if (reply.text !== undefined) {
    res.writeHead(reply.status, headers).end(head ? undefined : reply.text);
    return;
  }
  if (reply.status === 204 || reply.body === undefined) {
    res.writeHead(reply.status, headers).end();
    return;
  }
  const text = JSON.stringify(reply.body);
  headers['Content-Type'] = 'application/json';
  headers['Content-Length'] = String(Buffer.byteLength(text));
  res.writeHead(reply.status, headers).end(head ? undefined : text);
}
