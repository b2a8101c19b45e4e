// List prices the cost figures use, in one place, each with its source and
// the date it was read. On-demand, no free tier (a fleet of thousands is far
// past it), US regions (AWS us-east-1; GCP us-central1 for functions and
// secrets, nam5 for Firestore). Change a number here when a price moves and
// say when you read it.

import { defaultSchedule } from '../../src/core/checkpoints';

export const priceDate = '2026-12-01';

export const aws = {
  /**
   * https://aws.amazon.com/lambda/pricing/ (us-east-1, first tier). The
   * price of the architecture infra/terraform/aws/lambda.tf deploys (Arm,
   * Graviton): $0.0000133334 per GB-second against x86's $0.0000166667.
   */
  lambdaArchitecture: 'arm64',
  lambdaPerMillionRequests: 0.2,
  lambdaPerGbSecond: 0.0000133334,
  /** Lambda bills duration per 1 ms. */
  lambdaBillingStepMs: 1,
  /** https://aws.amazon.com/dynamodb/pricing/on-demand/ (after the November 2024 reduction) */
  dynamoPerMillionReadUnits: 0.125,
  dynamoPerMillionWriteUnits: 0.625,
  /** A strongly consistent read of an item up to 4 KB: 1 read unit. https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html */
  dynamoReadUnitsPerRead: 1,
  /** TransactWriteItems: 2 write units per item up to 1 KB (same page). */
  dynamoWriteUnitsPerTransactItem: 2,
  /** Standard table class, per GB-month of stored data (same page). */
  dynamoPerGbMonth: 0.25,
  /** https://aws.amazon.com/secrets-manager/pricing/ */
  secretPerMonth: 0.4,
  secretsManagerPer10kCalls: 0.05,
} as const;

export const gcp = {
  /** https://cloud.google.com/run/pricing (Cloud Run functions are billed as Cloud Run services, tier 1, request-based billing) */
  functionsPerMillionRequests: 0.4,
  functionsPerVcpuSecond: 0.000024,
  functionsPerGibSecond: 0.0000025,
  /** Request-based billing rounds each request's billable time up to 100 ms. */
  functionsBillingStepMs: 100,
  /** https://cloud.google.com/firestore/pricing (nam5 multi-region, Standard edition) */
  firestorePer100kReads: 0.06,
  firestorePer100kWrites: 0.18,
  /** Stored data, per GiB-month (same page). */
  firestorePerGibMonth: 0.18,
  /** https://cloud.google.com/secret-manager/pricing */
  secretVersionPerMonth: 0.06,
  secretManagerPer10kAccesses: 0.03,
} as const;

/**
 * What the counts cannot say, stated once. Memory and CPU are the sizes of
 * the deployment in infra/terraform; billed time per invocation is wall time
 * in the cloud (token verification plus a round trip to the state store),
 * which the bench cannot see from here, so it is assumed, not measured.
 */
export const assumptions = {
  lambdaMemoryGb: 0.5,
  /**
   * Lambda's CPU share at that memory: "At 1,769 MB, a function has the
   * equivalent of one vCPU" and CPU scales with memory
   * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
   * In-process time measured on this machine's full core is divided by it.
   */
  lambdaVcpu: 512 / 1769,
  gcpMemoryGib: 0.5,
  /** 512 MiB comes with 0.333 vCPU (https://cloud.google.com/functions/docs/configuring/memory); in-process time is divided by it too. */
  gcpVcpu: 0.333,
  billedMsPerInvocation: 25,
  daysPerMonth: 30,
  /** Planned promotions per validator-month (maintenance, node drains). */
  promotionsPerMonth: 1,
  /**
   * The fleet a keyframe names: every `keyframeEvery`-th checkpoint holds
   * every chain head, so its size grows with the fleet (issue 17's 10,000);
   * the deltas between hold the heads that moved.
   */
  fleetValidators: 10_000,
  /**
   * Checkpoints a day: one per schedule interval (src/core/checkpoints.ts,
   * 60 s by default), since a fleet with standbys always has an entry
   * uncovered (standby: 4 ledger entries a validator-day).
   */
  checkpointsPerDay: 86_400_000 / defaultSchedule.everyMs,
  /** The checkpoint chain is kept whole (verify walks it from the first): the storage is counted as in the twelfth month of a deployment. */
  monthsOfCheckpointsKept: 12,
  /** Bytes of one checkpoint part (src/stores/firestore/state-store.ts): a Firestore write is one document, whatever its size. */
  firestoreCheckpointPartBytes: 512 * 1024,
} as const;
