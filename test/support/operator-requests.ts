// Operator requests to a broker over the network (a child process, a
// container), signed as the CLI signs them: bound to the method, the path
// with its query, the exact body and the broker's published audience.

import { signOperatorRequest, type OperatorCredential } from '../../src/identity/dev-credentials';

const audiences = new Map<string, Promise<string>>();

/** The broker's operator request audience (GET /v1/operator-audience), asked once per URL. */
export function audienceOf(url: string): Promise<string> {
  let a = audiences.get(url);
  if (!a) {
    a = fetch(`${url}/v1/operator-audience`).then(async (res) => {
      if (!res.ok) throw new Error(`GET /v1/operator-audience: ${res.status}`);
      return ((await res.json()) as { audience: string }).audience;
    });
    a.catch(() => audiences.delete(url));
    audiences.set(url, a);
  }
  return a;
}

/** One signed operator request; `body` is sent as JSON. */
export async function operatorFetch(url: string, cred: OperatorCredential, method: string, path: string, body?: unknown): Promise<Response> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  const token = await signOperatorRequest(cred, { method, path, audience: await audienceOf(url), ...(text === undefined ? {} : { body: text }) });
  return fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(text === undefined ? {} : { body: text }),
  });
}
