// `keyhold-hook fetch|keeper|probe`: one command, configured by KEYHOLD_*
// environment variables so the manifests stay plain. Exit codes: 0 done or
// healthy, 1 refused or unhealthy (with a one-line reason), 2 bad settings.

import { randomInt } from 'node:crypto';
import { httpBrokerClient } from './broker-client';
import { clockFromEnv, realSleep, type Clock } from './clock';
import { HookConfigError, knownVariables, parseHookConfig, verbs, type FetchConfig, type KeeperConfig, type ProbeConfig, type Verb } from './config';
import { FetchRefused, runFetch, runFetchMany, type HookDeps } from './fetch';
import { httpKeymanagerApi } from './keymanager/api';
import { KeymanagerCustody } from './keymanager/custody';
import type { SettingsOf } from './layouts/settings';
import { RenewBatch } from './renew-batch';
import { wipeDir } from './key-files';
import { clearMountLayout, removeFromMountLayout, settingsOf, writeMountLayout } from './mount';
import { Keeper } from './keeper';
import { stderrLog } from './log';
import { runProbe } from './probe';
import { watchProbe } from './probe-watch';
import { stopSigner } from './signer';
import { startStatusServer } from './status-server';

// Set once in main, before any verb runs.
let processClock: Clock;

const random = () => randomInt(0, 1_000_000) / 1_000_000;

function deps(c: FetchConfig | KeeperConfig, verb: Verb): HookDeps {
  return {
    client: httpBrokerClient({ url: c.url, validator: c.validator, tokenFile: c.tokenFile, timeoutMs: c.httpTimeoutMs }),
    clock: processClock,
    sleep: realSleep,
    random,
    log: stderrLog(verb),
  };
}

async function fetchVerb(c: FetchConfig): Promise<number> {
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  try {
    const d = { ...deps(c, 'fetch'), signal: stop.signal };
    if (c.keyDirOf(c.validator) === c.keyDir) await runFetch(c, d);
    else await runFetchMany(c, { ...d, lists: httpBrokerClient({ url: c.url, validator: c.validator, tokenFile: c.tokenFile, timeoutMs: c.httpTimeoutMs }) });
    return 0;
  } catch (e) {
    if (e instanceof FetchRefused || (e as Error).name === 'KeyDeliveryError') {
      // Nothing half-written is left for a validator to find.
      for (const v of c.validators) await wipeDir(c.keyDirOf(v)).catch(() => undefined);
      await clearMountLayout(c).catch(() => undefined);
      console.error(`keyhold-hook fetch: ${(e as Error).message}`);
      return 1;
    }
    throw e;
  }
}

/** How often the keeper compares the client's keys with its grants (a client restart brings keys back from its data dir). */
const reconcileMs = 2000;

async function keeperVerb(c: KeeperConfig): Promise<number> {
  const base = deps(c, 'keeper');
  const stopTheSigner = () => stopSigner(c.signer, { sleep: realSleep, log: base.log, now: Date.now });
  const custody = c.keymanager
    ? new KeymanagerCustody({ api: httpKeymanagerApi({ url: c.keymanager.url, tokenFile: c.keymanager.tokenFile, timeoutMs: c.httpTimeoutMs }), stopClient: stopTheSigner, log: base.log })
    : null;
  // Read once: the Keymanager mode applies these per key through the API.
  let settings: SettingsOf = () => undefined;
  if (custody) {
    try {
      settings = await settingsOf(c);
    } catch (e) {
      console.error(`keyhold-hook keeper: KEYHOLD_VALIDATOR_SETTINGS_FILE: ${(e as Error).name === 'SettingsError' ? (e as Error).message : 'cannot be read'}`);
      return 2;
    }
  }
  const many = c.validators.length > 1;
  const lists = httpBrokerClient({ url: c.url, validator: c.validator, tokenFile: c.tokenFile, timeoutMs: c.httpTimeoutMs });
  const batch = many ? new RenewBatch(lists, realSleep) : null;
  const keepers = c.validators.map((v) => {
    const client = httpBrokerClient({ url: c.url, validator: v, tokenFile: c.tokenFile, timeoutMs: c.httpTimeoutMs });
    const log = many ? (m: string) => base.log(`${v}: ${m}`) : base.log;
    return new Keeper({ ...c, validator: v, keyDir: c.keyDirOf(v) }, {
      ...base,
      log,
      client: batch ? { ...client, renew: (g, o) => batch.renew(g, o) } : client,
      stopSigner: custody ? () => custody.unload(v) : stopTheSigner,
      ...(custody ? { startSigner: () => custody.load(v, c.keyDirOf(v), settings(v)) } : {}),
      ...(c.client !== null && !custody
        ? {
            writeLayout: async () => void (await writeMountLayout(c)),
            // If the key cannot be taken out alone, the whole layout goes: a key file left behind is worse than a stopped client.
            beforeWipe: () => removeFromMountLayout(c, v).then(() => undefined, () => clearMountLayout(c)),
          }
        : {}),
    });
  });
  const { server, port } = await startStatusServer({ port: c.port, status: () => (many ? keepers.map((k) => k.status()) : keepers[0]!.status()), probeStateFile: c.probeStateFile });
  base.log(`status on :${port} (/state, /metrics, /readyz)${custody ? `; keys go through the Keymanager API at ${c.keymanager!.url.origin}` : ''}`);
  const stopWatching = watchProbe(c.probeStateFile, base.log);
  const done = new AbortController();
  const onSignal = () => {
    stopWatching();
    done.abort();
    void Promise.all(keepers.map((k) => k.shutdown())).then(() => server.close());
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const reconciling = custody ? reconcileLoop(custody, keepers, c.validators, done.signal) : Promise.resolve();
  try {
    await Promise.all(keepers.map((k) => k.run()));
    done.abort();
    await reconciling;
    return 0;
  } catch (e) {
    // A keeper that cannot go on must not leave a signer with a key behind it.
    base.log(`failed (${(e as Error).name}: ${(e as Error).message}); stopping the signer and wiping the keys`);
    done.abort();
    await stopTheSigner().catch(() => undefined);
    for (const v of c.validators) await wipeDir(c.keyDirOf(v)).catch(() => undefined);
    await clearMountLayout(c).catch(() => undefined);
    return 1;
  }
}

/** Keys the client lists without a live grant go at once; a held key the client lost is handed over again. */
async function reconcileLoop(custody: KeymanagerCustody, keepers: readonly Keeper[], validators: readonly string[], signal: AbortSignal): Promise<void> {
  await Promise.all(keepers.map((k) => k.resumed));
  while (!signal.aborted) {
    const holding = () => keepers.map((k) => k.status().state === 'holding');
    const live = () => {
      const h = holding();
      return new Set(validators.flatMap((v, i) => (h[i] ? [custody.pubkeyOf(v)] : [])).filter((p): p is string => p !== null));
    };
    const listed = await custody.reconcile(live);
    if (listed !== null) {
      const h = holding();
      validators.forEach((v, i) => {
        const pk = custody.pubkeyOf(v);
        if (h[i] && pk !== null && !listed.has(pk)) keepers[i]!.reload();
      });
    }
    await realSleep(reconcileMs, signal);
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
  const clock = clockFromEnv(env);
  if (typeof clock === 'string') {
    console.error(`keyhold-hook ${verb}: ${clock}`);
    return 2;
  }
  processClock = clock;
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
