// What both function entry points share: the broker is composed once per
// instance (cold start), on the first request rather than at import, so a
// configuration the broker refuses is answered, not a crash loop. Concurrent
// first requests share one composition. A failed one is not kept: the next
// request tries again (the secret may have been set meanwhile), and until
// one succeeds every request gets the same fixed 503. Attempts are at least
// a second apart, so a flood against a broken instance does not become a
// flood of store clients and secret reads.

import { Hono } from 'hono';
import type { Broker, SigningKeySource } from '../src/compose';
import type { Config, Env, Runtime } from '../src/config';
import { errorCodes } from '../src/core/errors';
import { jsonLogger, type Logger } from '../src/log';

// The broker (config, stores, zod, jose) is imported on the first request that
// needs it, not at module load: a cold start that answers /healthz loads only
// Hono and this file. A ConfigError is recognised by its code for the same reason.
const isConfigError = (e: unknown): e is Error & { code: 'config_invalid' } => (e as { code?: unknown } | null)?.code === 'config_invalid';

/** The only body a function answers while it cannot start: nothing about why, which is in the log. */
export const unavailableBody = { code: 'broker_unavailable', message: errorCodes.broker_unavailable.message } as const;

export interface LazyBrokerOptions {
  readonly runtime: Exclude<Runtime, 'node'>;
  readonly env: Env;
  readonly signingKeySource: SigningKeySource;
  readonly logger?: Logger;
  /** Tests: stands in for composeBroker. */
  readonly compose?: (config: Config, signingKeySource: SigningKeySource) => Promise<Broker>;
  /** Least time between two start attempts (default 1000 ms). */
  readonly retryIntervalMs?: number;
  readonly now?: () => number;
}

export interface LazyBroker {
  /** Forwards every request to the broker once it is composed. */
  readonly app: Hono;
  /** The composed broker, or null when it cannot start (tests). */
  ready(): Promise<Broker | null>;
}

export function lazyBroker(opts: LazyBrokerOptions): LazyBroker {
  const logger = opts.logger ?? jsonLogger();
  let composing: Promise<Broker> | undefined;
  let lastRefusal: string | undefined;
  let failedAt = Number.NEGATIVE_INFINITY;
  const now = opts.now ?? Date.now;
  const retryIntervalMs = opts.retryIntervalMs ?? 1000;

  const compose = async (): Promise<Broker> => {
    // A function is a function whatever KEYHOLD_RUNTIME says: the runtime
    // decides which stores are refused (sqlite would give each instance its
    // own designations).
    const { parseConfig } = await import('../src/config');
    const config = parseConfig({ ...opts.env, KEYHOLD_RUNTIME: opts.runtime });
    if (opts.compose) return opts.compose(config, opts.signingKeySource);
    const { composeBroker } = await import('../src/compose');
    return composeBroker(config, { signingKeySource: opts.signingKeySource, ...(opts.logger ? { logger: opts.logger } : {}) });
  };

  const ready = async (): Promise<Broker | null> => {
    if (!composing && now() - failedAt < retryIntervalMs) return null;
    composing ??= compose().then(
      (broker) => {
        lastRefusal = undefined;
        logger.log('info', 'broker_started', { runtime: opts.runtime });
        return broker;
      },
      (e: unknown) => {
        composing = undefined;
        failedAt = now();
        // Logged once per distinct reason, not once per request of a broken instance.
        const reason = isConfigError(e) ? e.message : `${(e as Error | null)?.name ?? 'Error'}:${String((e as { code?: unknown } | null)?.code ?? '')}`;
        if (reason !== lastRefusal) {
          lastRefusal = reason;
          logger.log('error', 'broker_start_refused', isConfigError(e) ? { code: e.code, reason: e.message } : { error: e });
        }
        throw e;
      },
    );
    return composing.catch(() => null);
  };

  const app = new Hono();
  // Liveness: the instance is up. It needs no store and no secret, so it does
  // not compose the broker; /readyz, served by the broker, reports the stores.
  app.get('/healthz', (c) => c.json({ status: 'ok' }, 200, { 'Cache-Control': 'no-store' }));
  app.all('*', async (c) => {
    const broker = await ready();
    if (!broker) return c.json(unavailableBody, 503, { 'Cache-Control': 'no-store', 'Retry-After': '5' });
    return broker.app.fetch(c.req.raw, c.env);
  });
  return { app, ready };
}
