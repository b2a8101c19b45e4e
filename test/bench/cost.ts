// Cost per validator-month from the counted calls of fleet-day.ts and the
// list prices of prices.ts, split into the secret itself and everything
// else. A validator here is what a fleet runs for each key: a held pod that
// renews, a standby pod that polls, and `promotionsPerMonth` planned handoffs;
// its pods hold one key each, or `keysPerPod` (one list request for all).

import { keyframeEvery } from '../../src/core/checkpoints';
import type { DayCounts, FleetDay } from './fleet-day';
import { assumptions as a, aws, gcp } from './prices';

export interface CloudCost {
  /** Everything beyond the secret: functions, state store, secret accesses. */
  readonly beyondSecret: number;
  readonly secret: number;
  /** The same split by role, beyond the secret. */
  readonly held: number;
  readonly standby: number;
  readonly promotions: number;
  /** The validator's share of the checkpoint chain: writing its head into every checkpoint, and keeping them. */
  readonly checkpoints: number;
}

const billed = (ms: number, step: number) => Math.ceil(ms / step) * step;
/** Billed time of one invocation: as counted (already in the cloud's steps), or one round trip's assumption when the count does not say. */
const perInvocationMs = (counted: number, step: number) => (counted > 0 ? counted : billed(a.billedMsPerInvocation, step));

function awsMonth(d: DayCounts, times: number): number {
  const inv = d.invocations * times;
  const requests = (inv / 1e6) * aws.lambdaPerMillionRequests;
  // A request held waiting for a designation change is billed for its wait.
  const seconds = inv * (perInvocationMs(d.billed_ms_per_invocation_aws, aws.lambdaBillingStepMs) / 1000) + (d.held_ms * times) / 1000;
  const duration = seconds * a.lambdaMemoryGb * aws.lambdaPerGbSecond;
  const reads = ((d.state_reads * times * aws.dynamoReadUnitsPerRead) / 1e6) * aws.dynamoPerMillionReadUnits;
  const writes = ((d.state_items_written * times * aws.dynamoWriteUnitsPerTransactItem) / 1e6) * aws.dynamoPerMillionWriteUnits;
  const secretCalls = ((d.key_reads * times) / 1e4) * aws.secretsManagerPer10kCalls;
  return requests + duration + reads + writes + secretCalls;
}

function gcpMonth(d: DayCounts, times: number): number {
  const inv = d.invocations * times;
  const seconds = inv * (perInvocationMs(d.billed_ms_per_invocation_gcp, gcp.functionsBillingStepMs) / 1000) + (d.held_ms * times) / 1000;
  const requests = (inv / 1e6) * gcp.functionsPerMillionRequests;
  const compute = seconds * (a.gcpVcpu * gcp.functionsPerVcpuSecond + a.gcpMemoryGib * gcp.functionsPerGibSecond);
  // A Firestore transaction reads the ledger head it appends to: one more read per commit.
  const reads = (((d.state_reads + d.state_commits) * times) / 1e5) * gcp.firestorePer100kReads;
  const writes = ((d.state_items_written * times) / 1e5) * gcp.firestorePer100kWrites;
  const secretCalls = ((d.key_reads * times) / 1e4) * gcp.secretManagerPer10kAccesses;
  return requests + compute + reads + writes + secretCalls;
}

/**
 * One validator's share of the checkpoint chain a month, from the bytes its
 * head takes in a checkpoint and the ledger entries it makes a day. Its head
 * is in every keyframe (every `keyframeEvery`-th checkpoint names every
 * head) and, between keyframes, in a delta only when its chain moved: at
 * most once per entry. On DynamoDB a checkpoint is written in one
 * transaction (past one item it is split into parts): write units by size.
 * On Firestore a write is a document whatever its size: a keyframe of the
 * fleet is a few documents and a delta one, shared by all its validators.
 * Both keep every checkpoint: storage grows by the month.
 */
export function checkpointShare(bytesPerHead: number, entriesPerDay: number): { aws: number; gcp: number } {
  const keyframesPerDay = a.checkpointsPerDay / keyframeEvery;
  const heads = (keyframesPerDay + Math.min(entriesPerDay, a.checkpointsPerDay - keyframesPerDay)) * a.daysPerMonth;
  const keptBytes = heads * bytesPerHead * a.monthsOfCheckpointsKept;
  const awsWrites = ((heads * (bytesPerHead / 1024) * aws.dynamoWriteUnitsPerTransactItem) / 1e6) * aws.dynamoPerMillionWriteUnits;
  const awsStorage = (keptBytes / 1e9) * aws.dynamoPerGbMonth;
  const deltasPerDay = a.checkpointsPerDay - keyframesPerDay;
  const documentsOf = (heads: number) => Math.ceil((heads * bytesPerHead) / a.firestoreCheckpointPartBytes);
  const movedPerDelta = (a.fleetValidators * Math.min(entriesPerDay, deltasPerDay)) / deltasPerDay;
  const documents = (keyframesPerDay * documentsOf(a.fleetValidators) + deltasPerDay * documentsOf(movedPerDelta)) * a.daysPerMonth;
  const gcpWrites = (documents / a.fleetValidators / 1e5) * gcp.firestorePer100kWrites;
  const gcpStorage = (keptBytes / 2 ** 30) * gcp.firestorePerGibMonth;
  return { aws: awsWrites + awsStorage, gcp: gcpWrites + gcpStorage };
}

/** `pods`: 'one' for pods of one key, 'many' for pods of `day.keysPerPod` keys. */
function split(day: FleetDay, pods: 'one' | 'many', month: (d: DayCounts, times: number) => number, secret: number, checkpoints: number): CloudCost {
  const held = month(pods === 'one' ? day.held : day.heldMany, a.daysPerMonth);
  const standby = month(pods === 'one' ? day.standby : day.standbyMany, a.daysPerMonth);
  const promotions = month(day.promotion, a.promotionsPerMonth);
  return { beyondSecret: held + standby + promotions + checkpoints, secret, held, standby, promotions, checkpoints };
}

export function costPerValidatorMonth(day: FleetDay, pods: 'one' | 'many' = 'one'): { aws: CloudCost; gcp: CloudCost } {
  const entries = (pods === 'one' ? day.held : day.heldMany).ledger_entries + (pods === 'one' ? day.standby : day.standbyMany).ledger_entries;
  const share = checkpointShare(day.checkpointBytesPerHead, entries);
  return { aws: split(day, pods, awsMonth, aws.secretPerMonth, share.aws), gcp: split(day, pods, gcpMonth, gcp.secretVersionPerMonth, share.gcp) };
}
