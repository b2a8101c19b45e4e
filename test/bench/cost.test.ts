import { describe, expect, it } from 'vitest';
import { keyframeEvery } from '../../src/core/checkpoints';
import { checkpointShare, costPerValidatorMonth } from './cost';
import { checkpointBytesPerHead, meanBilledMs, roundTripsOf, type DayCounts, type FleetDay } from './fleet-day';
import { assumptions, aws, gcp } from './prices';
import { table } from './report';

const none: DayCounts = { invocations: 0, key_reads: 0, state_reads: 0, state_commits: 0, state_items_written: 0, ledger_entries: 0, mean_invocation_ms: 0, store_round_trips_per_invocation: 0, billed_ms_per_invocation_aws: 0, billed_ms_per_invocation_gcp: 0, held_ms: 0 };
const day = (held: Partial<DayCounts>, standby: Partial<DayCounts> = {}, promotion: Partial<DayCounts> = {}, many: Partial<DayCounts> = {}): FleetDay => ({
  held: { ...none, ...held },
  standby: { ...none, ...standby },
  heldMany: { ...none, ...many },
  standbyMany: { ...none, ...many },
  keysPerPod: 100,
  promotion: { ...none, ...promotion },
  checkpointBytesPerHead: 0,
});

describe('cost per validator-month', () => {
  it('is only the secret when nothing is called', () => {
    const c = costPerValidatorMonth(day({}));
    expect(c.aws).toMatchObject({ beyondSecret: 0, secret: aws.secretPerMonth });
    expect(c.gcp).toMatchObject({ beyondSecret: 0, secret: gcp.secretVersionPerMonth });
  });

  it('bills a million reads a day for thirty days at the read unit price, beyond the secret', () => {
    const reads = costPerValidatorMonth(day({ state_reads: 1e6 }));
    expect(reads.aws.beyondSecret).toBeCloseTo(assumptions.daysPerMonth * aws.dynamoPerMillionReadUnits, 9);
    expect(reads.aws.held).toBe(reads.aws.beyondSecret);
  });

  it('rounds each GCP request up to 100 ms, so an invocation costs at least that', () => {
    const one = costPerValidatorMonth(day({ invocations: 1 }));
    const perInvocation = gcp.functionsPerMillionRequests / 1e6 + 0.1 * (assumptions.gcpVcpu * gcp.functionsPerVcpuSecond + assumptions.gcpMemoryGib * gcp.functionsPerGibSecond);
    expect(one.gcp.beyondSecret).toBeCloseTo(assumptions.daysPerMonth * perInvocation, 12);
  });

  it('counts promotions per month, not per day, and keeps each role apart', () => {
    const c = costPerValidatorMonth(day({}, { state_items_written: 10 }, { state_items_written: 10 }));
    expect(c.aws.standby).toBeCloseTo(c.aws.promotions * assumptions.daysPerMonth, 12);
    expect(c.aws.beyondSecret).toBeCloseTo(c.aws.standby + c.aws.promotions, 12);
  });

  it('misses the target when any cloud is over it', () => {
    expect(table({ cost_per_validator_month: { aws: 0.04, gcp: 0.06 } })).toMatch(/cost_per_validator_month .*MISS/);
    expect(table({ cost_per_validator_month: { aws: 0.04, gcp: 0.05 } })).toMatch(/cost_per_validator_month .*pass/);
  });

  it('bills each invocation its counted time, and a held request its wait, on both clouds', () => {
    const counted = costPerValidatorMonth(day({ invocations: 1, billed_ms_per_invocation_aws: 200, billed_ms_per_invocation_gcp: 300 }));
    const assumed = costPerValidatorMonth(day({ invocations: 1 }));
    expect(counted.aws.held).toBeCloseTo(assumed.aws.held * 1 + 30 * (0.2 - assumptions.billedMsPerInvocation / 1000) * assumptions.lambdaMemoryGb * aws.lambdaPerGbSecond, 12);
    expect(counted.gcp.held).toBeCloseTo(assumed.gcp.held + 30 * (0.3 - 0.1) * (assumptions.gcpVcpu * gcp.functionsPerVcpuSecond + assumptions.gcpMemoryGib * gcp.functionsPerGibSecond), 12);
    const held = costPerValidatorMonth(day({}, {}, { held_ms: 40_000 }));
    expect(held.aws.promotions).toBeCloseTo(40 * assumptions.lambdaMemoryGb * aws.lambdaPerGbSecond, 12);
    expect(held.gcp.promotions).toBeCloseTo(40 * (assumptions.gcpVcpu * gcp.functionsPerVcpuSecond + assumptions.gcpMemoryGib * gcp.functionsPerGibSecond), 12);
  });

  it('bills an invocation its round trips at the assumed time each, plus its CPU time at the function\'s share of a core, in the cloud\'s steps', () => {
    // No round trip and 0.2 ms on a full core: 0.2 / 0.333 = 0.6 ms, one 100 ms step on GCP; on Lambda 0.2 / 0.289 = 0.69, one 1 ms step.
    expect(meanBilledMs([{ roundTrips: 0, ms: 0.2 }], assumptions.gcpVcpu, gcp.functionsBillingStepMs)).toBe(100);
    expect(meanBilledMs([{ roundTrips: 0, ms: 0.2 }], assumptions.lambdaVcpu, aws.lambdaBillingStepMs)).toBe(1);
    // Two round trips and 10 ms: 50 + 10 / 0.289 = 84.55, billed 85 on Lambda; 50 + 10 / 0.333 = 80.03, 100 on GCP; 20 ms: 110.06, 200.
    expect(meanBilledMs([{ roundTrips: 2, ms: 10 }], assumptions.lambdaVcpu, 1)).toBe(Math.ceil(50 + 10 / assumptions.lambdaVcpu));
    expect(meanBilledMs([{ roundTrips: 2, ms: 10 }], assumptions.gcpVcpu, 100)).toBe(100);
    expect(meanBilledMs([{ roundTrips: 2, ms: 20 }], assumptions.gcpVcpu, 100)).toBe(200);
    // Rounded per invocation, then averaged: a mean of rounded steps, not a rounded mean.
    expect(meanBilledMs([{ roundTrips: 0, ms: 1 }, { roundTrips: 4, ms: 1 }], assumptions.gcpVcpu, 100)).toBe(150);
    expect(meanBilledMs([], assumptions.gcpVcpu, 100)).toBe(0);
  });

  it('counts a list request\'s round trips by how many validators it works at once', () => {
    expect(roundTripsOf({ read: 0, commits: 0, key: 0 }, 1)).toBe(0);
    expect(roundTripsOf({ read: 1, commits: 1, key: 1 }, 1)).toBe(3);
    expect(roundTripsOf({ read: 100, commits: 0, key: 0 }, 16)).toBe(7);
    expect(roundTripsOf({ read: 100, commits: 100, key: 100 }, 4)).toBe(75);
  });

  it('counts pods of many keys from their own counts', () => {
    const c = day({ state_reads: 1000 }, {}, {}, { state_reads: 10 });
    expect(costPerValidatorMonth(c, 'many').aws.held).toBeCloseTo(costPerValidatorMonth(c, 'one').aws.held / 100, 12);
  });

  it('charges each validator its head in every keyframe and in a delta per entry: by size on DynamoDB, by document on Firestore, and the chain kept', () => {
    // 1,440 checkpoints a day, one keyframe in 60: 24 keyframes, and 4 entries' deltas, a day.
    const share = checkpointShare(100, 4);
    const heads = (24 + 4) * assumptions.daysPerMonth;
    expect(assumptions.checkpointsPerDay / keyframeEvery).toBe(24);
    const awsWrites = ((heads * (100 / 1024) * 2) / 1e6) * aws.dynamoPerMillionWriteUnits;
    const awsStorage = ((heads * 100 * assumptions.monthsOfCheckpointsKept) / 1e9) * aws.dynamoPerGbMonth;
    expect(share.aws).toBeCloseTo(awsWrites + awsStorage, 12);
    // A keyframe of 10,000 heads of 100 bytes is two documents of 512 KiB; a delta (some 28 heads) is one, for the whole fleet.
    const documents = (24 * 2 + (1440 - 24)) * assumptions.daysPerMonth;
    const gcpWrites = (documents / assumptions.fleetValidators / 1e5) * gcp.firestorePer100kWrites;
    const gcpStorage = ((heads * 100 * assumptions.monthsOfCheckpointsKept) / 2 ** 30) * gcp.firestorePerGibMonth;
    expect(share.gcp).toBeCloseTo(gcpWrites + gcpStorage, 12);
    // More entries, more deltas naming the head; never more than one per checkpoint.
    expect(checkpointShare(100, 40).aws).toBeGreaterThan(share.aws);
    expect(checkpointShare(100, 1e9).aws).toBeCloseTo(checkpointShare(100, 1440).aws, 12);
    const c = costPerValidatorMonth({ ...day({}), checkpointBytesPerHead: 100 });
    expect(c.aws.checkpoints).toBe(checkpointShare(100, 0).aws);
    expect(c.aws.beyondSecret).toBe(c.aws.checkpoints);
  });

  it('measures a checkpoint head as the stores write it', () => {
    // {"chain":"validator-00042","seq":1502,"hash":"<64 hex>"} and a comma: 113 bytes.
    expect(checkpointBytesPerHead(1000)).toBeCloseTo(113, 0);
  });
});
