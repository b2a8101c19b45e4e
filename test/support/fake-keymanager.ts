// A small Keymanager API server (ethereum/keymanager-APIs: /eth/v1/keystores)
// on a real loopback socket, standing for a validator client in the keeper's
// tests. `keepsDeletedKeys` reproduces Lodestar 1.5.1 with an active
// validator: DELETE answers "deleted" and the key stays listed.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeKeymanager {
  readonly url: URL;
  readonly token: string;
  /** Public keys (0x, lower case) the fake client signs with. */
  readonly keys: Map<string, { keystore: string; password: string; interchange: string | null }>;
  readonly requests: string[];
  /** Per-key settings set through /eth/v1/validator/{pubkey}/{feerecipient,gas_limit,graffiti}. */
  readonly settings: Map<string, Record<string, string>>;
  keepsDeletedKeys: boolean;
  /** A key whose DELETE answers `error` (the client could not remove it). */
  rejectDeleteOf: string | null;
  /** Answer every request with this status instead (a client starting up, or broken). */
  failWith: number | null;
  /** Forget every key (a client restarted on an empty data dir); `keep` stays. */
  restart(keep?: readonly string[]): void;
  close(): Promise<void>;
}

const read = async (req: IncomingMessage): Promise<unknown> => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length === 0 ? null : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
};

/** A v5 interchange with one signed attestation per key, as a client's DELETE returns it. */
export const deletedInterchange = (pubkeys: readonly string[]) =>
  JSON.stringify({
    metadata: { interchange_format_version: '5', genesis_validators_root: `0x${'ab'.repeat(32)}` },
    data: pubkeys.map((pubkey) => ({ pubkey, signed_blocks: [], signed_attestations: [{ source_epoch: '3', target_epoch: '4' }] })),
  });

export async function startFakeKeymanager(token = 'km-token-0123456789abcdef'): Promise<FakeKeymanager> {
  const keys: FakeKeymanager['keys'] = new Map();
  const requests: string[] = [];
  const fake: FakeKeymanager = {
    url: new URL('http://127.0.0.1:1'),
    token,
    keys,
    requests,
    settings: new Map(),
    keepsDeletedKeys: false,
    rejectDeleteOf: null,
    failWith: null,
    restart(keep = []) {
      for (const k of [...keys.keys()]) if (!keep.includes(k)) keys.delete(k);
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const body = (await read(req).catch(() => undefined)) as Record<string, unknown> | null | undefined;
      requests.push(`${req.method} ${req.url}`);
      if (fake.failWith !== null) return send(fake.failWith, { message: 'unavailable' });
      if (req.headers.authorization !== `Bearer ${token}`) return send(401, { message: 'unauthorized' });
      const setting = /^\/eth\/v1\/validator\/(0x[0-9a-f]{96})\/(feerecipient|gas_limit|graffiti)$/.exec(req.url ?? '');
      if (setting && req.method === 'POST' && body) {
        const [, pk, name] = setting;
        if (!keys.has(pk!)) return send(404, { message: 'unknown key' });
        const field = { feerecipient: 'ethaddress', gas_limit: 'gas_limit', graffiti: 'graffiti' }[name as 'feerecipient' | 'gas_limit' | 'graffiti'];
        if (typeof body[field] !== 'string') return send(400, { message: `${field} expected` });
        fake.settings.set(pk!, { ...fake.settings.get(pk!), [name!]: body[field] as string });
        res.writeHead(202).end();
        return;
      }
      if (req.url !== '/eth/v1/keystores' || body === undefined) return send(404, { message: 'not found' });
      if (req.method === 'GET') return send(200, { data: [...keys.keys()].map((validating_pubkey) => ({ validating_pubkey, derivation_path: '', readonly: false })) });
      if (req.method === 'POST') {
        const { keystores, passwords, slashing_protection } = body as { keystores: string[]; passwords: string[]; slashing_protection?: string };
        const data = keystores.map((ks, i) => {
          const pk = `0x${(JSON.parse(ks) as { pubkey: string }).pubkey.replace(/^0x/, '').toLowerCase()}`;
          if (keys.has(pk)) return { status: 'duplicate' };
          keys.set(pk, { keystore: ks, password: passwords[i]!, interchange: slashing_protection ?? null });
          return { status: 'imported' };
        });
        return send(200, { data });
      }
      if (req.method === 'DELETE') {
        const { pubkeys } = body as { pubkeys: string[] };
        const data = pubkeys.map((pk) => {
          if (!keys.has(pk)) return { status: 'not_found' };
          if (pk === fake.rejectDeleteOf) return { status: 'error', message: 'could not delete' };
          if (!fake.keepsDeletedKeys) keys.delete(pk);
          return { status: 'deleted' };
        });
        return send(200, { data, slashing_protection: deletedInterchange(pubkeys) });
      }
      return send(405, { message: 'method not allowed' });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (fake as { url: URL }).url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return fake;
}
