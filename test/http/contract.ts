// Every answer an HTTP test receives is checked against the published
// document: its route, its status and its body schema. An answer the
// document does not describe throws, so the test that received it fails.

import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Hono } from 'hono';
import { openApiDocument } from '../../src/http/openapi';

interface MediaType { schema?: object }
interface Operation { operationId: string; responses: Record<string, { content?: Record<string, MediaType> }> }
type Paths = Record<string, Record<string, Operation>>;

const doc = openApiDocument() as { paths: Paths; components: { schemas: { Error: object } } };

export function contractAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
  addFormats.default(ajv);
  // OpenAPI's own schema annotations, not JSON Schema vocabulary.
  ajv.addKeyword('example');
  return ajv;
}
const ajv = contractAjv();

const templates = Object.keys(doc.paths).map((p) => ({ path: p, re: new RegExp(`^${p.replace(/[.]/g, '\\.').replace(/\{\w+\}/g, '[^/]+')}$`) }));

export function operationFor(method: string, pathname: string): Operation | undefined {
  const t = templates.find((x) => x.re.test(pathname));
  return t ? doc.paths[t.path]![method.toLowerCase()] : undefined;
}

const compiled = new Map<string, ValidateFunction>();
function validator(key: string, schema: object): ValidateFunction {
  let v = compiled.get(key);
  if (!v) compiled.set(key, (v = ajv.compile(schema)));
  return v;
}

export class ContractViolation extends Error {
  override name = 'ContractViolation';
}

/** Throws unless the document describes this answer to this request. */
export async function checkAnswer(method: string, pathname: string, res: Response): Promise<void> {
  const op = operationFor(method, pathname);
  const where = `${method} ${pathname} → ${res.status}`;
  const contentType = res.headers.get('content-type') ?? '';
  const text = await res.clone().text();
  if (!op) {
    // The one answer the document promises for what it does not list.
    const body = JSON.parse(text) as { code?: string };
    if (res.status !== 404 || body.code !== 'not_found') throw new ContractViolation(`${where}: not in the OpenAPI document (${text.slice(0, 200)})`);
    if (!validator('Error', doc.components.schemas.Error)(body)) throw new ContractViolation(`${where}: not an error body`);
    return;
  }
  const answer = op.responses[String(res.status)];
  if (!answer) throw new ContractViolation(`${where}: status not documented for ${op.operationId} (${text.slice(0, 200)})`);
  const [media, spec] = Object.entries(answer.content ?? {})[0] ?? [];
  if (!media || !contentType.startsWith(media)) throw new ContractViolation(`${where}: content type ${contentType}, documented ${media ?? 'none'}`);
  if (media !== 'application/json' || !spec?.schema) return;
  const validate = validator(`${op.operationId} ${res.status}`, spec.schema);
  if (!validate(JSON.parse(text))) throw new ContractViolation(`${where}: body does not match ${op.operationId}: ${ajv.errorsText(validate.errors)} (${text.slice(0, 300)})`);
}

/** The app, with every answer to `request` and `fetch` checked against the document. */
export function checkedApp<A extends Hono>(app: A): A {
  const check = async (method: string, url: string, res: Response | Promise<Response>) => {
    const r = await res;
    await checkAnswer(method, new URL(url, 'http://localhost').pathname, r);
    return r;
  };
  return new Proxy(app, {
    get(target, prop, receiver) {
      if (prop === 'request') {
        return (input: string | URL | Request, init?: RequestInit, ...rest: unknown[]) => {
          const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
          const url = input instanceof Request ? input.url : String(input);
          return check(method, url, (target.request as (...a: unknown[]) => Promise<Response>)(input, init, ...rest));
        };
      }
      if (prop === 'fetch') {
        return (req: Request, ...rest: unknown[]) => check(req.method, req.url, (target.fetch as (...a: unknown[]) => Promise<Response>)(req, ...rest));
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}
