// `keyhold-hook fetch`, the init container: get a grant for this pod, open
// the key delivery, and leave on the memory volume everything the validator
// and the keeper need. Exit 0 only when all of it is in place.

import { statfs } from 'node:fs/promises';
import { acquireGrant, type Acquired } from './acquire';
import type { BrokerClient } from './broker-client';
import type { Clock, Sleep } from './clock';
import type { FetchConfig } from './config';
import { lifetimeMs } from './deadline';
import { openKeyDelivery } from './ephemeral-key';
import { wipeDir, writeKeyBundle, type GrantRecord } from './key-files';
import { seconds, type Log } from './log';

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
export async function installGrant(keyDir: string, validator: string, got: Extract<Acquired, { kind: 'granted' }>): Promise<GrantRecord> {
  if (got.claims.validator !== validator) throw new FetchRefused(`the broker granted validator "${got.claims.validator}", not "${validator}"`);
  const bundle = await openKeyDelivery(got.jwe, got.keyPair.privateKey);
  const { validator: v, slot, podUid, epoch, iat, exp, jti } = got.claims;
  const record: GrantRecord = { validator: v, slot, podUid, epoch, iat, exp, jti, sentAt: got.sent.wall, predecessor: got.predecessor };
  try {
    await writeKeyBundle(keyDir, bundle, { token: got.token, record });
  } finally {
    for (const b of bundle.files.values()) b.fill(0);
  }
  return record;
}

export async function runFetch(config: FetchConfig, deps: HookDeps): Promise<GrantRecord> {
  const fs = await statfs(config.keyDir).catch(() => null);
  if (fs === null) throw new FetchRefused(`KEYHOLD_KEY_DIR ${config.keyDir} does not exist`);
  if (fs.type !== tmpfsMagic) deps.log(`warning: ${config.keyDir} is not memory-backed (tmpfs); in a pod it must be an emptyDir with medium: Memory`);
  // Leftovers of an earlier attempt (an init container restarted mid-write)
  // are never mixed with a new grant. No signer runs before fetch succeeds.
  await wipeDir(config.keyDir);
  const got = await acquireGrant({ ...deps, settings: config });
  if (got.kind === 'aborted') throw new FetchRefused('stopped before a grant was issued');
  if (got.kind === 'gave_up') throw new FetchRefused(got.reason);
  const record = await installGrant(config.keyDir, config.validator, got);
  deps.log(
    `granted ${record.validator} at epoch ${record.epoch} for slot ${record.slot}; key written to ${config.keyDir}; grant lasts ${seconds(lifetimeMs(record))} from its request; predecessor ${record.predecessor}${record.predecessor === 'unproven' ? ' (its stop or its history is not proven: start the validator client with doppelganger detection)' : ''}`,
  );
  return record;
}
