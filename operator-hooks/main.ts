// `keyhold-hook fetch|keeper|probe`: one command, configured by KEYHOLD_*
// environment variables so the manifests stay plain. Exit codes: 0 done or
// healthy, 1 refused or unhealthy (with a one-line reason), 2 bad settings.

import { randomInt } from 'node:crypto';
import { httpBrokerClient } from './broker-client';
import { realSleep, systemClock } from './clock';
import { HookConfigError, knownVariables, parseHookConfig, verbs, type FetchConfig, type KeeperConfig, type ProbeConfig, type Verb } from './config';
import { FetchRefused, runFetch, type HookDeps } from './fetch';
import { wipeDir } from './key-files';
import { Keeper } from './keeper';
import { stderrLog } from './log';
import { runProbe } from './probe';
import { watchProbe } from './probe-watch';
import { stopSigner } from './signer';
import { startStatusServer } from './status-server';

const random = () => randomInt(0, 1_000_000) / 1_000_000;

function deps(c: FetchConfig | KeeperConfig, verb: Verb): HookDeps {
  return {
    client: httpBrokerClient({ url: c.url, validator: c.validator, tokenFile: c.tokenFile, timeoutMs: c.httpTimeoutMs }),
    clock: systemClock,
    sleep: realSleep,
    random,
    log: stderrLog(verb),
  };
}

async function fetchVerb(c: FetchConfig): Promise<number> {
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  try {
    await runFetch(c, { ...deps(c, 'fetch'), signal: stop.signal });
    return 0;
  } catch (e) {
    if (e instanceof FetchRefused || (e as Error).name === 'KeyDeliveryError') {
      // Nothing half-written is left for a validator to find.
      await wipeDir(c.keyDir).catch(() => undefined);
      console.error(`keyhold-hook fetch: ${(e as Error).message}`);
      return 1;
    }
    throw e;
  }
}

async function keeperVerb(c: KeeperConfig): Promise<number> {
  const base = deps(c, 'keeper');
  const stopTheSigner = () => stopSigner(c.signer, { sleep: realSleep, log: base.log, now: Date.now });
  const keeper = new Keeper(c, { ...base, stopSigner: stopTheSigner });
  const { server, port } = await startStatusServer({ port: c.port, status: () => keeper.status(), probeStateFile: c.probeStateFile });
  base.log(`status on :${port} (/state, /metrics, /readyz)`);
  const stopWatching = watchProbe(c.probeStateFile, base.log);
  const onSignal = () => {
    stopWatching();
    void keeper.shutdown().then(() => server.close());
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    await keeper.run();
    return 0;
  } catch (e) {
    // A keeper that cannot go on must not leave a signer with a key behind it.
    base.log(`failed (${(e as Error).name}: ${(e as Error).message}); stopping the signer and wiping the key`);
    await stopTheSigner().catch(() => undefined);
    await wipeDir(c.keyDir).catch(() => undefined);
    return 1;
  }
}

async function probeVerb(c: ProbeConfig): Promise<number> {
  const r = await runProbe(c, { now: Date.now });
  console.log(`keyhold-hook probe: ${r.healthy ? 'healthy' : 'UNHEALTHY'}: ${r.reason}`);
  return r.healthy ? 0 : 1;
}

function help(): string {
  const width = Math.max(...Object.keys(knownVariables).map((k) => k.length));
  return [
    'usage: keyhold-hook fetch|keeper|probe',
    '',
    ...Object.entries(knownVariables).map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
  ].join('\n');
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const verb = argv[0];
  if (verb === 'help' || verb === '--help' || verb === '-h') {
    console.log(help());
    return 0;
  }
  if (!verbs.includes(verb as Verb) || argv.length > 1) {
    console.error(`keyhold-hook: expected one of ${verbs.join('|')}, got ${JSON.stringify(argv.join(' '))}\n${help()}`);
    return 2;
  }
  let config;
  try {
    config = parseHookConfig(verb as Verb, env);
  } catch (e) {
    if (e instanceof HookConfigError) {
      console.error(`keyhold-hook ${verb}: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (config.verb === 'fetch') return fetchVerb(config);
  if (config.verb === 'keeper') return keeperVerb(config);
  return probeVerb(config);
}

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (e: unknown) => {
    // Never print the error object: it could carry a response body.
    console.error(`keyhold-hook: failed (${(e as Error)?.name ?? 'error'}: ${(e as Error)?.message?.slice(0, 200) ?? ''})`);
    process.exit(1);
  },
);
