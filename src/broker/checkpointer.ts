// Signs checkpoints on the schedule: after this instance has committed
// `everyEntries` entries, or `everyMs` after the first entry it left
// uncovered, and on a timer where the runtime has one (the Node server). Each
// checkpoint extends the stored checkpoint chain by compare-and-swap on its
// seq, so brokers racing to sign never fork it: the loser re-reads, and
// signs only if something is still uncovered. Each checkpoint this instance
// signs is then copied to the write-once witness, if there is one; a copy
// that fails is retried with the next checkpoint (the newest witnessed one is
// what an auditor anchors to, so a gap costs nothing but a failed copy is
// logged), and never fails the decision that led to it. Nothing is signed
// on top of a latest checkpoint this broker did not sign, or over chains that
// no longer hold what it names (holdTo).

import {
  CheckpointChainVerifier,
  checkpointChain,
  checkpointDigest,
  checkpointDue,
  extensionCheck,
  foldHeads,
  keyframeOf,
  maxLagFor,
  nextCheckpoint,
  type CheckpointSchedule,
} from '../core/checkpoints';
import { KeyholdError } from '../core/errors';
import { checkAgainstCheckpoint, type ChainHead, type LedgerEntry, type VerifyProblem } from '../core/ledger';
import { checkpointSigned, type GrantSigner } from '../grants/signer';
import type { Logger } from '../log';
import { hashesAtPositions, sinceKeyframe } from './ledger-reads';
import type { CheckpointWitness, Clock, StateStore, StoredCheckpoint } from '../ports';

export interface CheckpointerDeps {
  readonly state: StateStore;
  readonly signer: GrantSigner;
  readonly clock: Clock;
  readonly schedule: CheckpointSchedule;
  readonly logger?: Logger;
  readonly witness?: CheckpointWitness;
}

const putAttempts = 4;
/** After a failed checkpoint, commits wait this long before trying again (the timer keeps its own pace). */
export const retryAfterFailureMs = 10_000;
/** At most this many checkpoints copied to the witness in one catch-up. */
const witnessBatch = 100;

export class Checkpointer {
  private localUncovered = 0;
  private firstLocalAt: number | null = null;
  private running: Promise<StoredCheckpoint | null> | null = null;
  /** The oldest checkpoint this instance signed that the witness may lack. */
  private unwitnessedFrom: number | null = null;

  constructor(private readonly d: CheckpointerDeps) {}

  get maxLagMs(): number {
    return maxLagFor(this.d.schedule);
  }

  /**
   * One signing at a time in this instance: concurrent signings here would
   * only race each other for the same next seq (with commits landing from a
   * worker thread, imports finish close together). Other instances still
   * race, and the retries below settle that.
   */
  private serial: Promise<unknown> = Promise.resolve();
  private oneAtATime<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.serial.then(fn, fn);
    this.serial = run.catch(() => undefined);
    return run;
  }

  /** Sign a checkpoint over every head now, whether or not one is due; with the number of chains it covers. */
  sign(): Promise<{ checkpoint: StoredCheckpoint; chains: number }> {
    return this.oneAtATime(() => this.signNow());
  }

  private async signNow(): Promise<{ checkpoint: StoredCheckpoint; chains: number }> {
    for (let i = 1; ; i++) {
      const latest = await this.d.state.latestCheckpoint();
      const heads = await this.d.state.chainHeads();
      const next = await this.signed(latest, heads);
      if (await this.stored(next)) return { checkpoint: next.checkpoint, chains: next.covers.size };
      if (i >= putAttempts) throw new CheckpointContentionError();
    }
  }

  /** Sign one if the schedule says so (checked against the store, which every broker shares). */
  async ifDue(): Promise<StoredCheckpoint | null> {
    this.running ??= this.oneAtATime(() => this.runIfDue()).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async runIfDue(): Promise<StoredCheckpoint | null> {
    for (let i = 1; i <= putAttempts; i++) {
      const latest = await this.d.state.latestCheckpoint();
      const heads = await this.d.state.chainHeads();
      const covered = latest ? await this.coveredBy(latest) : null;
      if (!checkpointDue(this.d.schedule, latest && covered ? { time: latest.time, covered } : null, heads, this.d.clock.now())) {
        this.reset();
        return null;
      }
      const next = await this.signed(latest, heads);
      if (await this.stored(next)) return next.checkpoint;
    }
    throw new CheckpointContentionError();
  }

  /**
   * Called after every commit: counts what this instance wrote, and checks
   * the store only when its own count or age says a checkpoint may be due,
   * so most decisions cost nothing more. A failure here is logged, never
   * turned into a failed decision: the decision is already committed.
   */
  async afterCommit(entries: readonly LedgerEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const now = this.d.clock.now();
    this.localUncovered += entries.length;
    this.firstLocalAt ??= now;
    if (this.localUncovered < this.d.schedule.everyEntries && now - this.firstLocalAt < this.d.schedule.everyMs) return;
    // Once due, every commit would try again: a store too slow for the
    // checkpoint's reads would get them once per decision, each abandoned
    // at its timeout but still worked on by the store.
    if (now < this.retryAt) return;
    try {
      await this.ifDue();
    } catch (e) {
      this.retryAt = this.d.clock.now() + retryAfterFailureMs;
      this.d.logger?.log('warn', 'checkpoint_failed', { error: (e as { code?: string }).code ?? (e as Error).name });
    }
  }

  private retryAt = 0;

  /** For runtimes that live between requests: check on a timer. Returns the stop function. */
  start(tickMs: number = Math.max(1000, Math.floor(this.d.schedule.everyMs / 2))): () => void {
    const timer = setInterval(() => {
      this.ifDue().catch((e: unknown) => this.d.logger?.log('warn', 'checkpoint_failed', { error: (e as { code?: string }).code ?? (e as Error).name }));
    }, tickMs);
    timer.unref?.();
    return () => clearInterval(timer);
  }

  /** The checkpoint after `latest`, signed, and the full set of heads it covers. */
  private async signed(latest: StoredCheckpoint | null, heads: readonly ChainHead[]): Promise<{ checkpoint: StoredCheckpoint; covers: Map<string, ChainHead> }> {
    const covered = latest ? await this.holdTo(latest, heads) : null;
    const body = nextCheckpoint(latest, heads, this.d.clock.now(), this.maxLagMs, covered);
    const signature = await this.d.signer.signStatement({ checkpoint: body.digest }, body.time);
    return { checkpoint: { ...body, signature }, covers: foldHeads(covered ?? new Map(), body) };
  }

  /** Put it at its seq; false when another broker took the seq first. */
  private async stored(next: { checkpoint: StoredCheckpoint; covers: Map<string, ChainHead> }): Promise<boolean> {
    if (!(await this.d.state.putCheckpoint(next.checkpoint))) return false;
    this.known = { digest: next.checkpoint.digest, covered: next.covers };
    this.reset();
    await this.witnessThrough(next.checkpoint);
    return true;
  }

  /**
   * A checkpoint vouches for everything behind it, so one is signed only on
   * top of a latest checkpoint that this broker's keys signed, over chains
   * that still hold what it names: else a store writer's rewrite (or a
   * forged checkpoint) behind it would be covered by a genuine signature.
   */
  private async holdTo(latest: StoredCheckpoint, heads: readonly ChainHead[]): Promise<Map<string, ChainHead>> {
    const covered = await this.coveredBy(latest);
    const { problem, moved } = extensionCheck([...covered.values()], heads);
    if (problem) this.refuse(problem);
    const hashes = await hashesAtPositions(this.d.state, moved);
    const rewritten = checkAgainstCheckpoint({ heads: moved }, (chain) => hashes.get(chain) ?? null);
    if (rewritten) this.refuse(rewritten);
    return covered;
  }

  /** The newest checkpoint this instance signed or checked, and every head it covers. */
  private known: { digest: string; covered: Map<string, ChainHead> } | null = null;

  /**
   * Every head `latest` covers: its own heads for a keyframe, else the fold
   * from its keyframe (at most keyframeEvery checkpoints, read once), each
   * link and digest checked, and `latest`'s signature, which the links tie
   * them all to.
   */
  private async coveredBy(latest: StoredCheckpoint): Promise<Map<string, ChainHead>> {
    if (this.known?.digest === latest.digest) return this.known.covered;
    const sound = checkpointDigest(latest) === latest.digest && (await checkpointSigned((t) => this.d.signer.verifyStatement(t), latest));
    if (!sound) this.refuse({ chain: checkpointChain, seq: latest.seq, fault: 'checkpoint_signature' });
    const v = new CheckpointChainVerifier(null, keyframeOf(latest));
    for (const c of await sinceKeyframe(this.d.state, latest)) v.push(c);
    const problem = v.result() ?? (v.latest?.digest === latest.digest ? null : { chain: checkpointChain, seq: latest.seq, fault: 'checkpoint_link' as const });
    if (problem) this.refuse(problem);
    const covered = new Map(v.latestHeads.map((h) => [h.chain, h]));
    this.known = { digest: latest.digest, covered };
    return covered;
  }

  private refuse(problem: VerifyProblem): never {
    this.d.logger?.log('error', 'checkpoint_refused', { chain: problem.chain, seq: problem.seq, fault: problem.fault });
    throw new KeyholdError('ledger_inconsistent');
  }

  private async witnessThrough(c: StoredCheckpoint): Promise<void> {
    const w = this.d.witness;
    if (!w) return;
    const from = this.unwitnessedFrom ?? c.seq;
    let pending: StoredCheckpoint[] = [c];
    try {
      if (from < c.seq) pending = [...(await this.d.state.listCheckpoints(from, Math.min(witnessBatch, c.seq - from))), c];
    } catch {
      // Copy the new one at least; the older ones wait for the next.
    }
    for (const p of pending) {
      try {
        await w.put(p);
      } catch (e) {
        this.unwitnessedFrom = Math.min(p.seq, this.unwitnessedFrom ?? p.seq);
        this.d.logger?.log('warn', 'witness_failed', { witness: w.name, seq: p.seq, error: (e as { code?: unknown }).code === 'witness_not_write_once' ? 'witness_not_write_once' : ((e as Error).name ?? 'Error') });
        return;
      }
    }
    // A gap wider than one batch is closed over the next checkpoints.
    this.unwitnessedFrom = pending.length > 1 && from + witnessBatch < c.seq ? from + witnessBatch : null;
  }

  private reset(): void {
    this.localUncovered = 0;
    this.firstLocalAt = null;
  }
}

/** Another broker kept winning the race for the next seq; the next tick tries again. */
export class CheckpointContentionError extends Error {
  readonly code = 'checkpoint_contention';
  constructor() {
    super('checkpoint: lost the race for the next seq repeatedly');
    this.name = 'CheckpointContentionError';
  }
}
