// `npm start`: the broker as a plain Node server, on the embedded default.

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { composeBroker } from './compose';
import { ConfigError, parseConfig, type Config } from './config';
import { readSecretFile } from './files';
import { serveApp } from './http/node-server';
import { homeFiles } from './identity/dev-credentials';
import { StartupError } from './startup-error';

function banner(config: Config, url: string): string {
  const home = resolve(config.home);
  const f = homeFiles(home);
  const lines = [
    `keyhold broker listening on ${url}`,
    `  state store: ${config.stateStore}   key stores: ${config.keyStores.join(', ')}   home: ${home}`,
    `  grant TTL ${config.timing.grantTtlMs / 1000}s, horizon ${(config.timing.grantTtlMs + config.timing.outageToleranceMs) / 1000}s, max clock skew ${config.timing.maxClockSkewMs / 1000}s`,
    `  signing keys: ${'file' in config.signingKey ? resolve(config.signingKey.file) : config.signingKey.secret}`,
  ];
  if (config.dev) {
    lines.push(
      `  dev pod-token issuer: ${f.devIssuerKey} (cluster "local")`,
      `  dev operator credential: ${f.operatorCredential}`,
      '',
      '  Walk the flow:',
      '    npx keyhold keys import v1 --file keystore.json --password-file pw.txt --slot local/validators/v1-0 --slot local/validators/v1-standby-0 --service-account validator --genesis-validators-root 0x...',
      '    TOKEN=$(npx keyhold dev token --slot local/validators/v1-0 --pod-uid $(node -p "crypto.randomUUID()"))',
      `    curl -s ${url}/v1/grants -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"validator":"v1","ephemeralKey":{...}}'`,
    );
  }
  return lines.join('\n');
}
import type { BrokerMetrics } from './metrics';

async function main(): Promise<void> {
  // The SQLite files hold sealed keys and the ledger: nobody else reads them.
  process.umask(0o077);
  const config = parseConfig(process.env);
  const broker = await composeBroker(config);
  const tls = config.tls ? { cert: await readFile(config.tls.certFile), key: await readSecretFile(config.tls.keyFile, 'KEYHOLD_TLS_KEY_FILE') } : null;
  const serving = await serveApp(broker.app.fetch, { host: config.host, port: config.port, tls, ...config.http }).catch(async (e: unknown) => {
    await broker.close();
    throw e;
  });
  console.log(banner(config, serving.url));
  const stopCheckpoints = broker.checkpointer.start();
  const metrics = broker.parts.metrics;
  const metricsServer = config.metricsPort !== null && metrics ? serveMetrics(metrics, config.host, config.metricsPort) : null;
  const stop = () => {
    stopCheckpoints();
    void serving.close();
    metricsServer?.close();
    void broker.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** Metrics on a listener of their own, plain HTTP: counters and latencies only, no API route. */
function serveMetrics(metrics: BrokerMetrics, host: string, port: number): ReturnType<typeof serve> {
  const app = new Hono().get('/metrics', async (c) => {
    const m = await metrics.render();
    return c.body(m.body, 200, { 'content-type': m.contentType });
  });
  return serve({ fetch: app.fetch, hostname: host, port }, (info) => {
    console.log(`  metrics on http://${info.address.includes(':') ? `[${info.address}]` : info.address}:${info.port}/metrics`);
  });
}

main().catch((e: unknown) => {
  // Config and start-up errors are ours and name what to change; anything
  // else prints its name only (a message may quote a store's answer).
  const known = e instanceof ConfigError || e instanceof StartupError;
  console.error(known ? `keyhold: ${e.message}` : `keyhold: failed to start (${(e as Error).name})`);
  process.exit(e instanceof ConfigError ? 2 : 1);
});
