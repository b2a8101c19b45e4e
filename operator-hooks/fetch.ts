// `keyhold-hook fetch`, the init container: get a grant for this pod, open
// the key delivery, and leave on the memory volume everything the validator
// and the keeper need. Exit 0 only when all of it is in place.

import { mkdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireGrant, predecessorOf, type Acquired } from './acquire';
import { itemAnswer, type BrokerClient, type Failure, type ListBrokerClient } from './broker-client';
import type { Clock, Sleep } from './clock';
import type { FetchConfig } from './config';
import { lifetimeMs } from './deadline';
import { needsDoppelganger, writeDoppelgangerAdvice } from './doppelganger';
import { ephemeralKeyPair, grantClaims, openKeyDelivery } from './ephemeral-key';
import { fileNames, wipeDir, writeKeyBundle, type GrantRecord } from './key-files';
import { seconds, type Log } from './log';
import { clearMountLayout, writeMountLayout } from './mount';
import { nextStep } from './retry';

export interface HookDeps {
  readonly client: BrokerClient;
  readonly clock: Clock;
  readonly sleep: Sleep;
  readonly random: () => number;
  readonly log: Log;
  readonly signal?: AbortSignal;
}

export class FetchRefused extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'FetchRefused';
  }
}

const tmpfsMagic = 0x01021994;

/** Open a grant's key delivery and write it to `keyDir`. Returns the record written as grant.json. */
/** `beforeGrant` runs once the key material is in and before grant.jwt, whose presence tells a waiting wrapper to start. */
export async function installGrant(keyDir: string, validator: string, got: Extract<Acquired, { kind: 'granted' }>, beforeGrant?: () => Promise<void>): Promise<GrantRecord> {
  if (got.claims.validator !== validator) throw new FetchRefused(`the broker granted validator "${got.claims.validator}", not "${validator}"`);
  const bundle = await openKeyDelivery(got.jwe, got.keyPair.privateKey);
  const { validator: v, slot, podUid, epoch, iat, exp, jti } = got.claims;
  const record: GrantRecord = { validator: v, slot, podUid, epoch, iat, exp, jti, sentAt: got.sent.wall, predecessor: got.predecessor };
  try {
    await writeKeyBundle(keyDir, bundle, { token: got.token, record }, beforeGrant ? { beforeGrant } : {});
  } finally {
    for (const b of bundle.files.values()) b.fill(0);
  }
  return record;
}

async function checkKeyDir(config: FetchConfig, log: Log): Promise<void> {
  const fs = await statfs(config.keyDir).catch(() => null);
  if (fs === null) throw new FetchRefused(`KEYHOLD_KEY_DIR ${config.keyDir} does not exist`);
  if (fs.type !== tmpfsMagic) log(`warning: ${config.keyDir} is not memory-backed (tmpfs); in a pod it must be an emptyDir with medium: Memory`);
}

const advice = (needed: boolean) =>
  needed
    ? 'doppelganger-protection true: a predecessor stop is not proven (or not every validator is granted yet): start the validator client with doppelganger detection'
    : 'doppelganger-protection false: every predecessor stop is proven: the client may skip doppelganger detection';

/** The client's own files for the keys now held; a bad settings file refuses the fetch instead of starting a client that pays the wrong address. */
async function writeLayoutOrRefuse(config: FetchConfig, log: Log): Promise<void> {
  try {
    const paths = await writeMountLayout(config);
    if (paths.length > 0) log(`${config.client} layout: ${paths.length} file(s) written`);
  } catch (e) {
    if ((e as Error).name === 'SettingsError' || (e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new FetchRefused(`KEYHOLD_VALIDATOR_SETTINGS_FILE: ${(e as Error).name === 'SettingsError' ? (e as Error).message : 'cannot be read'}`);
    }
    throw e;
  }
}

export async function runFetch(config: FetchConfig, deps: HookDeps): Promise<GrantRecord> {
  await checkKeyDir(config, deps.log);
  // Leftovers of an earlier attempt (an init container restarted mid-write)
  // are never mixed with a new grant. No signer runs before fetch succeeds.
  await wipeDir(config.keyDir);
  await clearMountLayout(config);
  const got = await acquireGrant({ ...deps, settings: config });
  if (got.kind === 'aborted') throw new FetchRefused('stopped before a grant was issued');
  if (got.kind === 'gave_up') throw new FetchRefused(got.reason);
  // Before the key files: a wrapper that waits for grant.jwt finds the advice already there.
  const doppelganger = needsDoppelganger([config.validator], [{ validator: got.claims.validator, predecessor: got.predecessor }]);
  await writeDoppelgangerAdvice(config.keyDir, doppelganger);
  const record = await installGrant(config.keyDir, config.validator, got, () => writeLayoutOrRefuse(config, deps.log));
  deps.log(
    `granted ${record.validator} at epoch ${record.epoch} for slot ${record.slot}; key written to ${config.keyDir}; grant lasts ${seconds(lifetimeMs(record))} from its request; predecessor ${record.predecessor}; ${advice(doppelganger)}`,
  );
  return record;
}

/**
 * KEYHOLD_VALIDATORS: one request for every validator of the pod. Done once
 * at least one is installed: the keeper keeps asking for the rest (a pod
 * designated for some of its validators holds those and waits for the others).
 */
export async function runFetchMany(config: FetchConfig, deps: HookDeps & { readonly lists: ListBrokerClient }): Promise<GrantRecord[]> {
  await checkKeyDir(config, deps.log);
  // An earlier attempt's advice never outlives it: no file means "run detection".
  await rm(join(config.keyDir, fileNames.doppelganger), { force: true });
  for (const v of config.validators) {
    await mkdir(config.keyDirOf(v), { recursive: true, mode: 0o700 });
    await wipeDir(config.keyDirOf(v));
  }
  await clearMountLayout(config);
  const keyPair = await ephemeralKeyPair();
  for (let attempt = 0; ; attempt++) {
    if (deps.signal?.aborted) throw new FetchRefused('stopped before a grant was issued');
    const sent = { wall: deps.clock.wall(), mono: deps.clock.mono() };
    const answer = await deps.lists.fetchGrants(config.validators, keyPair.publicJwk, deps.signal ? { signal: deps.signal } : {});
    const installed: GrantRecord[] = [];
    const refused: { validator: string; failure: Failure }[] = [];
    if (answer.ok) {
      for (const [i, item] of answer.body.results.entries()) {
        const validator = config.validators[i]!;
        const one = itemAnswer(item);
        if (!one.ok) {
          refused.push({ validator, failure: one });
          continue;
        }
        const got = { kind: 'granted', token: one.body.grant, claims: grantClaims(one.body.grant), sent, jwe: one.body.key, keyPair, predecessor: predecessorOf(one.body.predecessor) } as const;
        installed.push(await installGrant(config.keyDirOf(validator), validator, got));
      }
    }
    if (installed.length > 0) {
      await writeLayoutOrRefuse(config, deps.log);
      for (const r of installed) deps.log(`granted ${r.validator} at epoch ${r.epoch} for slot ${r.slot}; key written to ${config.keyDirOf(r.validator)}; predecessor ${r.predecessor}`);
      for (const r of refused) deps.log(`not yet ${r.validator} (${r.failure.kind === 'refused' ? r.failure.code : r.failure.reason}); the keeper keeps asking`);
      const doppelganger = needsDoppelganger(config.validators, installed);
      await writeDoppelgangerAdvice(config.keyDir, doppelganger);
      deps.log(advice(doppelganger));
      return installed;
    }
    const failures: Failure[] = answer.ok ? refused.map((r) => r.failure) : [answer];
    const steps = failures.map((f) => nextStep(f, attempt, config, deps.random));
    const waits = steps.filter((s) => s.kind === 'wait');
    if (waits.length === 0) throw new FetchRefused(steps[0]?.kind === 'give_up' ? steps[0].reason : 'the broker answered no validator');
    const step = waits.reduce((a, b) => (b.ms < a.ms ? b : a));
    deps.log(`waiting ${seconds(step.ms)}: ${step.why}`);
    await deps.sleep(step.ms, deps.signal);
  }
}
