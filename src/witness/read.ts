// What an auditor takes from a witness: the newest checkpoint as first
// written, and everything odd the listing showed. Bodies are read newest
// first and only until one holds a checkpoint, so a witness of a year's
// checkpoints costs one listing and, normally, one read.

import type { SignedCheckpoint } from '../core/checkpoints';
import { acceptCandidate, isFinding, planWitness, type WitnessFinding } from '../core/witness';
import type { CheckpointWitness } from '../ports';

export interface WitnessReport {
  readonly witness: string;
  readonly newest: SignedCheckpoint | null;
  readonly checkpoints: number;
  readonly findings: readonly WitnessFinding[];
}

export async function readNewestWitnessed(w: CheckpointWitness, onPage?: (objects: number) => void): Promise<WitnessReport> {
  const plan = planWitness(await w.list(onPage));
  const findings = [...plan.findings];
  for (const c of plan.candidates) {
    const got = acceptCandidate(c, await w.read(c.key, c.version));
    if (isFinding(got)) {
      findings.push(got);
      continue;
    }
    return { witness: w.name, newest: got, checkpoints: plan.candidates.length, findings };
  }
  return { witness: w.name, newest: null, checkpoints: plan.candidates.length, findings };
}
