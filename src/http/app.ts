// createApp(deps): the one Hono app that the Node server, the Lambda handler
// and the Cloud Functions handler all serve. It never reads the environment;
// everything comes in through `deps`.

import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { z } from 'zod';
import { KeyholdError } from '../core/errors';
import { parseKeyMaterial } from '../core/key-material';
import { fetchMany, renewMany, type Outcome } from '../broker/grant-batch';
import type { GrantService } from '../broker/grants';
import type { OperationsService } from '../broker/operations';
import type { IssuedGrant } from '../grants/signer';
import type { GrantSigner } from '../grants/signer';
import { OperatorTokenRefusal, hasRole, type Operator, type OperatorRole, type OperatorVerifier } from '../identity/operator-token';
import type { PodIdentity, PodTokenVerifier } from '../identity/pod-token';
import { UiLogin, isUiSessionToken } from '../identity/ui-session';
import type { Logger } from '../log';
import type { Clock } from '../ports';
import type { BrokerMetrics } from '../metrics';
import { errorBody, toResponse } from './errors';
import { type holdersResponse, slashingProtectionLimit, validatorId } from './schemas';
import { routes, type RouteAuth, type RouteSpec } from './routes';
import { presentEntry, presentRecord, presentStatus } from './present';
import type { Readiness } from './readiness';
import type * as TimelinePage from './ui/timeline-page';

export interface AppDeps {
  readonly grants: GrantService;
  readonly operations: OperationsService;
  readonly podTokens: PodTokenVerifier;
  readonly operators: OperatorVerifier;
  /** The audience operator request tokens must carry, published for the CLI. */
  readonly operatorAudience: () => Promise<string>;
  readonly signer: GrantSigner;
  readonly readiness: Readiness;
  readonly logger: Logger;
  readonly clock: Clock;
  /** When set, decisions are counted; `exposeMetrics` also serves GET /metrics. */
  readonly metrics?: BrokerMetrics;
  readonly exposeMetrics?: boolean;
  /** The timeline page's login codes and sessions; by default signed with `signer`, single use per instance. */
  readonly uiLogin?: UiLogin;
}

const limit = (maxSize: number) =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new KeyholdError('body_too_large');
    },
  });

async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) throw new KeyholdError('unsupported_media_type');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await c.req.text());
  } catch {
    throw new KeyholdError('invalid_request');
  }
  const result = schema.safeParse(parsed);
  if (!result.success) throw new KeyholdError('invalid_request');
  return result.data;
}

function bearer(c: Context): string {
  const h = c.req.header('authorization') ?? '';
  // `DPoP` is RFC 9449's scheme for a key-bound token; the proof itself is checked with the token.
  const m = /^(?:Bearer|DPoP) ([A-Za-z0-9_.-]{16,8192})$/.exec(h);
  if (!m?.[1]) throw new KeyholdError('unauthenticated');
  return m[1];
}

type Caller<A extends RouteAuth> = A extends 'pod' ? PodIdentity : A extends 'none' ? null : Operator;

const honoPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');

function param(c: Context, name: string): string {
  const r = validatorId.safeParse(c.req.param(name));
  if (!r.success) throw new KeyholdError('invalid_request');
  return r.data;
}

/** Headers on every answer: no cache keeps a grant, a key or a refusal; no content sniffing. */
const everyAnswer = [
  ['Cache-Control', 'no-store'],
  ['X-Content-Type-Options', 'nosniff'],
] as const;

const grantView = (g: IssuedGrant) => ({
  validator: g.claims.validator,
  slot: g.claims.slot,
  grant: g.token,
  epoch: g.claims.epoch,
  expiresAt: new Date(g.exp * 1000).toISOString(),
});

export function createApp(deps: AppDeps): Hono {
  const { grants, operations, logger, clock } = deps;
  const app = new Hono();

  const pod = (c: Context): Promise<PodIdentity> => deps.podTokens.verify(bearer(c), clock.now());
  const operator = async (c: Context, spec: RouteSpec): Promise<Operator> => {
    const url = new URL(c.req.url);
    // The exact bytes, hashed before anything parses them (Hono keeps them for the handler).
    const body = spec.body ? new Uint8Array(await c.req.arrayBuffer()) : new Uint8Array();
    const dpop = c.req.header('dpop');
    const request = { method: c.req.method, path: url.pathname + url.search, body, mutating: spec.method !== 'get' && spec.safe !== true, ...(dpop === undefined ? {} : { dpop }) };
    let op: Operator;
    try {
      op = await deps.operators.verify(bearer(c), request, clock.now());
    } catch (e) {
      if (e instanceof OperatorTokenRefusal) await ledgerRefusal(c, spec, e);
      throw e;
    }
    if (!hasRole(op, spec.auth as OperatorRole)) throw new KeyholdError('forbidden');
    return op;
  };
  /** A genuine operator token used wrongly (replayed, on another request or deployment, expired) is ledgered, then refused. */
  const ledgerRefusal = async (c: Context, spec: RouteSpec, e: OperatorTokenRefusal) => {
    const id = validatorId.safeParse(c.req.param('id'));
    try {
      await operations.operatorRefused(e.operator, e.code, { request: `${spec.method.toUpperCase()} ${spec.path}`, claim: e.detail, validator: id.success ? id.data : null, tokenId: e.tokenId });
    } catch (le) {
      // The refusal stands either way; a store that cannot take the entry is in the log.
      logger.log('warn', 'operator_refusal_not_ledgered', { code: e.code, error: (le as { code?: string }).code ?? (le as Error).name });
    }
  };
  // Authentication comes before the body is even parsed: nothing about a
  // validator is revealed to a caller the broker does not know.
  const caller = async <S extends RouteSpec>(c: Context, spec: S): Promise<Caller<S['auth']>> =>
    (spec.auth === 'none' ? null : spec.auth === 'pod' ? await pod(c) : await operator(c, spec)) as Caller<S['auth']>;
  const ui = deps.uiLogin ?? new UiLogin(deps.signer);
  // A timeline session is tried only on the routes that accept one (audit reads); anywhere else it is just a bearer no operator signed.
  const callerOrSession = async <S extends RouteSpec>(c: Context, spec: S): Promise<Caller<S['auth']>> => {
    if (spec.session && isUiSessionToken(bearer(c))) return (await ui.verifySession(bearer(c), clock.now())) as Caller<S['auth']>;
    return caller(c, spec);
  };

  /** Every route is registered from its spec in ./routes, which the OpenAPI document is made from. */
  const on = <S extends RouteSpec>(spec: S, handler: (c: Context, who: Caller<S['auth']>) => Response | Promise<Response>) => {
    const handle = async (c: Context) => handler(c, await callerOrSession(c, spec));
    if (spec.body) app.on(spec.method.toUpperCase(), honoPath(spec.path), limit(spec.body.maxBytes), handle);
    else app.on(spec.method.toUpperCase(), honoPath(spec.path), handle);
  };

  const count = (decision: string, code?: string) => deps.metrics?.decision(decision, code);
  const issued = (validator: string, slot: string, grant: IssuedGrant) => {
    logger.log('info', 'grant_issued', { validator, slot, epoch: grant.claims.epoch, jti: grant.jti });
    count('issued');
  };
  /** One validator's refusal inside a list answer: the same code, status and Retry-After a single request would get. */
  const refusedView = (o: Extract<Outcome<unknown>, { ok: false }>, c: Context) => {
    count(o.status === 425 ? 'waiting' : o.status >= 500 ? 'unavailable' : 'denied', o.code);
    if (o.code === 'internal') logger.log('error', 'request_refused', { method: c.req.method, path: c.req.routePath, status: 500, code: 'internal', validator: o.validator, cause: o.error });
    return { validator: o.validator, outcome: 'refused', status: o.status, ...errorBody(o.code), ...(o.retryAfter === undefined ? {} : { retryAfter: o.retryAfter }) };
  };
  app.onError((e, c) => {
    const res = toResponse(c, e, logger);
    count(res.status === 425 ? 'waiting' : res.status >= 500 ? 'unavailable' : 'denied', (e as { code?: string }).code ?? 'internal');
    return res;
  });
  app.notFound((c) => c.json(errorBody('not_found'), 404));
  // Set before the handler, so the answer is built with them: setting a
  // header on a finished answer makes Hono rebuild it around a body stream,
  // which showed in the grant profile. Set again only where a route
  // changed them.
  app.use('*', async (c, next) => {
    for (const [k, v] of everyAnswer) c.header(k, v);
    await next();
    for (const [k, v] of everyAnswer) if (c.res.headers.get(k) !== v) c.header(k, v);
  });

  on(routes.health, (c) => c.json({ status: 'ok' }));
  on(routes.ready, async (c) => {
    const r = await deps.readiness.check();
    return c.json(r, r.status === 'down' ? 503 : 200);
  });
  if (deps.metrics && deps.exposeMetrics) {
    const metrics = deps.metrics;
    on(routes.metrics, async (c) => {
      const m = await metrics.render();
      return c.body(m.body, 200, { 'content-type': m.contentType });
    });
  }
  on(routes.jwks, (c) => {
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(deps.signer.jwks());
  });
  // The document and the timeline page are loaded on their first request: a
  // function's cold first grant needs neither (test/functions/bundles.test.ts).
  on(routes.openapi, async (c) => c.json((await import('./openapi')).openApiDocument()));
  on(routes.operatorAudience, async (c) => c.json({ audience: await deps.operatorAudience() }));

  // The timeline page (src/http/ui/timeline-page.ts) and its login.
  const asset = (body: (p: typeof TimelinePage) => string, type: string) => async (c: Context) => {
    const page = await import('./ui/timeline-page');
    return c.body(body(page), 200, { 'content-type': `${type}; charset=utf-8`, ...page.timelineHeaders });
  };
  on(routes.uiPage, asset((p) => p.timelineHtml, 'text/html'));
  on(routes.uiScript, asset((p) => p.timelineScript, 'text/javascript'));
  on(routes.uiStyle, asset((p) => p.timelineCss, 'text/css'));
  on(routes.uiLoginCode, async (c, op) => {
    const { code, expiresAt } = await ui.issueCode(op, clock.now());
    logger.log('info', 'ui_login_code_issued', { operator: op.name });
    return c.json({ code, expiresAt: new Date(expiresAt).toISOString(), path: `/ui#code=${code}` }, 201);
  });
  on(routes.uiSession, async (c) => {
    const body = await jsonBody(c, routes.uiSession.body.schema);
    const s = await ui.redeem(body.code, clock.now());
    logger.log('info', 'ui_session_opened', { operator: s.operator });
    return c.json({ token: s.token, expiresAt: new Date(s.expiresAt).toISOString(), operator: s.operator }, 201);
  });

  // Pods. A list body is answered per validator (src/broker/grant-batch.ts).
  on(routes.fetchGrant, async (c, who) => {
    const body = await jsonBody(c, routes.fetchGrant.body.schema);
    if ('validators' in body) {
      const outcomes = await fetchMany(grants, who, body.validators, body.ephemeralKey);
      return c.json({
        results: outcomes.map((o) => {
          if (!o.ok) return refusedView(o, c);
          issued(o.validator, who.slot, o.value.grant);
          return { outcome: 'issued', ...grantView(o.value.grant), predecessor: o.value.predecessor, key: o.value.key };
        }),
      });
    }
    const result = await grants.fetch(who, body.validator, body.ephemeralKey, (body.wait ?? 0) * 1000);
    issued(body.validator, who.slot, result.grant);
    return c.json({ ...grantView(result.grant), predecessor: result.predecessor, key: result.key }, 201);
  });
  on(routes.renewGrant, async (c, who) => {
    const body = await jsonBody(c, routes.renewGrant.body.schema);
    if ('grants' in body) {
      const outcomes = await renewMany(grants, who, body.grants);
      return c.json({
        results: outcomes.map((o) => {
          if (!o.ok) return refusedView(o, c);
          count('renewed');
          return { outcome: 'renewed', ...grantView(o.value.grant) };
        }),
      });
    }
    const result = await grants.renew(who, body.grant);
    count('renewed');
    return c.json(grantView(result.grant));
  });
  on(routes.releaseGrant, async (c, who) => {
    const body = await jsonBody(c, routes.releaseGrant.body.schema);
    const sp = body.slashingProtection ?? null;
    if (sp !== null && JSON.stringify(sp).length > slashingProtectionLimit) throw new KeyholdError('body_too_large');
    const result = await grants.release(who, body.grant, sp, body.stop ?? 'unproven');
    count(result.outcome);
    return c.json(result);
  });

  // Operators.
  const status = (r: Parameters<typeof presentStatus>[0]) => presentStatus(r, grants.lastGrants, clock.now());
  on(routes.listValidators, async (c) => c.json({ validators: (await operations.list()).map(status) }));
  on(routes.getValidator, async (c) => c.json(status(await operations.status(param(c, 'id')))));
  on(routes.importKey, async (c, op) => {
    const id = param(c, 'id');
    const body = await jsonBody(c, routes.importKey.body.schema);
    // The validator's slashing history is checked against its network: EIP-2335 keys always have one.
    if (body.format === 'eip2335' && body.genesisValidatorsRoot === undefined) throw new KeyholdError('genesis_validators_root_required');
    const material = parseKeyMaterial(new TextEncoder().encode(JSON.stringify({ v: 1, format: body.format, publicId: body.publicId, files: body.files })));
    const result = await operations.importKey(op, id, { slots: body.slots, serviceAccounts: body.serviceAccounts, genesisValidatorsRoot: body.genesisValidatorsRoot ?? null }, material, body.reason ?? null, body.stores);
    for (const f of material.files.values()) f.wipe();
    return c.json({ ...presentRecord(result.record), fingerprint: result.fingerprint, replicas: result.replicas }, 201);
  });
  on(routes.promoteValidator, async (c, op) => {
    const id = param(c, 'id');
    const body = await jsonBody(c, routes.promoteValidator.body.schema);
    const result = await operations.promote(op, id, body.slot, body.reason);
    count(result.status === 'promoted' ? 'promoted' : 'promotion_proposed');
    return result.status === 'promoted'
      ? c.json({ ...presentRecord(result.record), promotion: { status: 'promoted', approvers: result.approvers } })
      : c.json({ ...presentRecord(result.record), promotion: { status: 'pending', needs: 'a second, different operator to run the same promotion', expiresAt: new Date(result.record.pendingPromotion!.expiresAt).toISOString() } }, 202);
  });
  on(routes.checkKeys, async (c) => {
    const rows = await operations.checkKeys();
    return c.json({ ok: rows.every((r) => r.status === 'ok'), replicas: rows });
  });
  on(routes.listKeys, async (c) => c.json({ replicas: await operations.checkKeys() }));
  on(routes.queryAudit, async (c) => {
    const q = routes.queryAudit.query.safeParse(c.req.query());
    if (!q.success) throw new KeyholdError('invalid_request');
    const { limit: n, ...filters } = q.data;
    const page = await operations.query({ ...filters, limit: n ?? 100 });
    return c.json({ entries: page.entries.map(presentEntry), cursor: page.cursor });
  });
  on(routes.holdersAudit, async (c) => {
    const q = routes.holdersAudit.query.safeParse(c.req.query());
    if (!q.success) throw new KeyholdError('invalid_request');
    const { validator, ...window } = q.data;
    const body: z.infer<typeof holdersResponse> = { intervals: await operations.holders(validator, window) };
    return c.json(body);
  });
  on(routes.verifyAudit, async (c) => {
    const report = await operations.verify();
    return c.json(report, report.ok ? 200 : 409);
  });
  on(routes.exportAudit, async () => {
    const lines = operations.exportLines();
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await lines.next();
          if (next.done) controller.close();
          else controller.enqueue(encoder.encode(next.value));
        } catch (e) {
          // Headers are gone by now: the file ends without its trailer, which the verifier reports.
          logger.log('warn', 'audit_export_failed', { error: (e as { code?: string }).code ?? (e as Error).name });
          controller.error(e);
        }
      },
      async cancel() {
        await lines.return(undefined);
      },
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'application/x-ndjson' } });
  });
  // POST: the trusted checkpoint comes in the body (a keyframe names every chain head).
  on(routes.verifyAuditTrusted, async (c) => {
    const body = await jsonBody(c, routes.verifyAuditTrusted.body.schema);
    const report = await operations.verify(body.trust ?? null);
    return c.json(report, report.ok ? 200 : 409);
  });
  on(routes.makeCheckpoint, async (c) => {
    const { checkpoint: cp, chains } = await operations.checkpoint();
    return c.json({ seq: cp.seq, time: new Date(cp.time).toISOString(), digest: cp.digest, chains }, 201);
  });

  return app;
}
