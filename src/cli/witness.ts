// `keyhold audit verify --witness URL`: read the write-once copy of the
// checkpoint chain with the auditor's own cloud credentials (the broker is not
// asked), and hand its newest checkpoint to the verify as a trust anchor.

import { describeFinding } from '../core/witness';
import { witnessFactories } from '../stores/registry';
import { defaultWitnessRetentionDays, parseWitnessLocation } from '../witness/location';
import { readNewestWitnessed, type WitnessReport } from '../witness/read';

export interface WitnessView {
  readonly witness: string;
  readonly writeOnce: boolean;
  readonly checkpoints: number;
  readonly newest: number | null;
  readonly findings: readonly string[];
}

export class WitnessUsageError extends Error {}

export async function readWitnessAnchor(url: string, env: NodeJS.ProcessEnv, onPage: (objects: number) => void): Promise<{ report: WitnessReport; view: WitnessView }> {
  const loc = parseWitnessLocation(url);
  if (!loc) throw new WitnessUsageError(`--witness must be s3://BUCKET/PREFIX/ or gs://BUCKET/PREFIX/, got "${url}"`);
  const w = await witnessFactories[loc.scheme](loc, env, defaultWitnessRetentionDays);
  try {
    const writeOnce = await w.writeOnce();
    const report = await readNewestWitnessed(w, onPage);
    return {
      report,
      view: { witness: w.name, writeOnce, checkpoints: report.checkpoints, newest: report.newest?.seq ?? null, findings: report.findings.map(describeFinding) },
    };
  } finally {
    w.close();
  }
}

/** Whether the witness itself is sound enough to vouch: write-once and untouched. */
export const witnessSound = (v: WitnessView): boolean => v.writeOnce && v.findings.length === 0;
