// The handoffs the chain group measured, as one JSON line a bench can read
// (test/bench/handoff.ts reports them as figures).

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export const handoffsFile = resolve(import.meta.dirname, '../../../test-artifacts/handoffs.json');

export interface Handoff {
  readonly handoff: string;
  readonly predecessor: string;
  readonly doppelganger: boolean;
  /** From the start of the old pod's stop to the new pod's fetch exiting 0 (its grants written). */
  readonly waiting_ms: number;
  readonly from_epoch: number;
  readonly granted_epoch: number;
  /** The first epoch in which every moved key attested again. */
  readonly live_epoch: number;
  /** Attestations missed, all moved keys, from the stop's epoch to live_epoch. */
  readonly missed_attestations: number;
  /** The part missed after the grant's epoch: the client start and, when on, doppelganger detection. */
  readonly missed_after_grant: number;
}

export interface HandoffReport {
  readonly at: string;
  readonly client: string;
  readonly secondsPerSlot: number;
  readonly slotsPerEpoch: number;
  readonly keys: number;
  readonly horizonMs: number;
  readonly handoffs: readonly Handoff[];
}

export async function writeHandoffs(report: HandoffReport, file = handoffsFile): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(report)}\n`);
}

export async function readHandoffs(file = handoffsFile): Promise<HandoffReport | null> {
  const text = await readFile(file, 'utf8').catch(() => null);
  return text === null ? null : (JSON.parse(text) as HandoffReport);
}
