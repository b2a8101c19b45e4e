import { describe, expect, it } from 'vitest';
import { costPerValidatorMonth } from './cost';
import type { DayCounts, FleetDay } from './fleet-day';
import { assumptions, aws, gcp } from './prices';
import { table } from './report';

const none: DayCounts = { invocations: 0, key_reads: 0, state_reads: 0, state_commits: 0, state_items_written: 0, ledger_entries: 0, mean_invocation_ms: 0 };
const day = (held: Partial<DayCounts>, standby: Partial<DayCounts> = {}, promotion: Partial<DayCounts> = {}): FleetDay => ({
  held: { ...none, ...held },
  standby: { ...none, ...standby },
  promotion: { ...none, ...promotion },
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
});
