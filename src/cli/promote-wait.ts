// `keyhold promote --wait`: after the promotion is accepted, follow the
// handoff until the new holder has its key. Progress goes to stderr (the
// countdown to notBefore, whether the old holder acknowledged its stop, then
// the new holder's fetch); stdout keeps the final answer in the chosen format.

import { CliError, exitCodes } from './client';

export interface HandoffView {
  readonly designation: { epoch: number; slot: string; podUid: string | null; state: string; notBefore: string };
  readonly predecessor: string;
  readonly pendingPromotion: { slot: string; fromEpoch: number; expiresAt: string } | null;
}

export interface WaitOptions {
  /** The epoch the promotion set; null while it waits for a second approver (proposed at `fromEpoch`). */
  readonly epoch: number | null;
  readonly fromEpoch: number;
  /** The notBefore in the promotion's own answer (null while proposed). */
  readonly promotedNotBefore: string | null;
  readonly target: string;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly read: () => Promise<HandoffView>;
  readonly note: (line: string) => void;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** How often a countdown line is repeated while nothing else changes. */
const countdownEveryMs = 10_000;

/**
 * What a person waiting should read now. `promotedNotBefore`: the notBefore
 * the promotion set; an acknowledgement by the fenced holder moves it to the
 * moment it landed, which is how its stop shows in the designation.
 */
export function handoffStage(v: HandoffView, epoch: number | null, now: number, promotedNotBefore: string | null): { done: boolean; line: string } {
  const d = v.designation;
  if (epoch === null) return { done: false, line: `waiting for a second, different operator to approve (until ${v.pendingPromotion?.expiresAt ?? '?'})` };
  if (d.state === 'held') return { done: true, line: `new holder has its key: pod ${d.podUid ?? '?'} in ${d.slot}, epoch ${d.epoch}` };
  const acknowledged = v.predecessor === 'acknowledged' || (promotedNotBefore !== null && Date.parse(d.notBefore) < Date.parse(promotedNotBefore));
  const stop = acknowledged ? 'old holder acknowledged its stop' : v.predecessor === 'released' ? 'old holder released' : v.predecessor === 'none' ? 'no previous holder' : 'old holder has not acknowledged';
  const left = Date.parse(d.notBefore) - now;
  if (left > 0) return { done: false, line: `${stop}; notBefore in ${Math.ceil(left / 1000)}s (${d.notBefore})` };
  return { done: false, line: `${stop}; waiting for the new holder in ${d.slot} to fetch its key` };
}

/** Resolves with the view in which the new holder holds; CliError with exitCodes.timeout when it does not in time. */
export async function waitForHandoff(o: WaitOptions): Promise<HandoffView> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + o.timeoutMs;
  let epoch = o.epoch;
  let promotedNotBefore: string | null = null;
  let last = '';
  let lastAt = 0;
  for (;;) {
    const v = await o.read();
    const d = v.designation;
    if (epoch === null) {
      // The second approval raises the epoch from the proposal's; anything else voided it.
      if (d.epoch === o.fromEpoch + 1 && d.slot === o.target) epoch = d.epoch;
      else if (d.epoch !== o.fromEpoch || !v.pendingPromotion || v.pendingPromotion.slot !== o.target) {
        throw new CliError(`the proposal to promote to ${o.target} was voided (the designation is now epoch ${d.epoch} in ${d.slot})`, exitCodes.refused);
      }
    }
    if (epoch !== null && d.epoch !== epoch) throw new CliError(`the designation moved on to epoch ${d.epoch} in ${d.slot} before the promoted holder held it`, exitCodes.refused);
    if (epoch !== null) promotedNotBefore ??= o.promotedNotBefore ?? d.notBefore;
    const stage = handoffStage(v, epoch, now(), promotedNotBefore);
    const kind = stage.line.replace(/notBefore in \d+s/, 'notBefore');
    if (kind !== last || now() - lastAt >= countdownEveryMs) {
      o.note(stage.line);
      last = kind;
      lastAt = now();
    }
    if (stage.done) return v;
    const remaining = deadline - now();
    if (remaining <= 0) throw new CliError(`timed out: ${stage.line}`, exitCodes.timeout);
    await sleep(Math.min(o.intervalMs, remaining));
  }
}
