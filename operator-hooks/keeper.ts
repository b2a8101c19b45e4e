// `keyhold-hook keeper`, the native sidecar: keeps the grant fetch obtained,
// and makes sure the signer runs only while this pod holds one.
//
//   waiting ──grant──► holding ──renewed──► holding
//      ▲                 │ │
//      │                 │ └─ no renewal by the deadline ─► lost ── same epoch again ─► holding
//      │                 │                                   │
//      │                 └─ 409 stale_epoch ─► fenced ◄─ not designated / other epoch
//      └─ (start without a grant on disk)
//   any state ── SIGTERM ─► releasing ─► released (process exits)
//
// Outside `holding` the signer is stopped, and kept stopped, and the key
// files are gone. The deadline is counted from when each grant's request was
// sent, on both clocks (see deadline.ts).

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { acquireGrant } from './acquire';
import type { Failure, StopEvidence } from './broker-client';
import type { KeeperConfig } from './config';
import { deadlineFromSend, isPast, lifetimeMs, remainingMs, renewAtMono, sentFromRecord, type Deadline } from './deadline';
import { grantClaims } from './ephemeral-key';
import { installGrant, type HookDeps } from './fetch';
import { fileNames, readGrant, wipeDir, writeGrant, type GrantRecord } from './key-files';
import { seconds } from './log';
import { backoffMs } from './retry';
import { readInterchange, writeInterchange } from '../src/core/slashing-protection';

export type KeeperState = 'waiting' | 'holding' | 'lost' | 'fenced' | 'releasing' | 'released';

export interface KeeperStatus {
  readonly validator: string;
  readonly state: KeeperState;
  readonly reason: string | null;
  readonly since: string;
  readonly epoch: number | null;
  readonly slot: string | null;
  readonly podUid: string | null;
  readonly expiresAt: string | null;
  /** When this keeper stops the signer unless a renewal succeeds first (wall clock). */
  readonly holdUntil: string | null;
  readonly lastRenewedAt: string | null;
  readonly renewFailures: number;
  readonly renewFailuresTotal: number;
}

/** What a stop showed; in the Keymanager mode it also carries the interchange the client's DELETE returned. */
export interface StopProof {
  readonly evidence: StopEvidence;
  readonly why: string;
  readonly interchange?: Record<string, unknown> | null;
}

export interface KeeperDeps extends HookDeps {
  /** Stop the signer (or, in the Keymanager mode, remove this key from it) and say whether the stop is proven. */
  readonly stopSigner: () => Promise<StopProof>;
  /** Keymanager mode: hand the held key to the running client. True once it has it. */
  readonly startSigner?: () => Promise<boolean>;
  /** Mount mode with KEYHOLD_CLIENT: write the client's files once the key is in, before grant.jwt. */
  readonly writeLayout?: () => Promise<void>;
  /** Mount mode with KEYHOLD_CLIENT: take this key out of the client's files, before its directory is wiped. */
  readonly beforeWipe?: () => Promise<void>;
}

interface Held {
  readonly token: string;
  readonly record: GrantRecord;
  readonly sentMono: number;
  readonly deadline: Deadline;
}

/** Largest interchange the broker accepts; a larger one is compacted first (see `interchange`). */
const interchangeLimit = 250 * 1024;
/** Largest export read from KEYHOLD_SLASHING_EXPORT_COMMAND: years of a complete history. */
const exportCommandLimit = 256 * 1024 * 1024;
const sweepMs = 1000;

export class Keeper {
  private state: KeeperState = 'waiting';
  private reason: string | null = 'starting';
  private since: number;
  private held: Held | null = null;
  /** The grant that was lost (for recovery at its epoch, and for the release on shutdown). */
  private lost: Held | null = null;
  /** A fenced grant whose acknowledgement did not get through yet. */
  private unacknowledged: string | null = null;
  /**
   * The signer's EIP-3076 export, taken after it stopped and before the key
   * directory was wiped, for the release or acknowledgement that follows.
   * Dropped whenever the signer may sign again: a history older than the
   * signer's last signature must never be handed on as its last word.
   */
  private history: Record<string, unknown> | null = null;
  /** The last grant this keeper knew, for the status after it was given up. */
  private last: Held | null = null;
  private loop: Promise<void> = Promise.resolve();
  private lastRenewedAt: number | null = null;
  private failures = 0;
  private failuresTotal = 0;
  private readonly stopping = new AbortController();
  /** Wakes the sweeper the moment the grant is released, so the process exits at once (it bounds the planned handoff). */
  private readonly released = new AbortController();
  private stopChain: Promise<void> = Promise.resolve();
  /**
   * Whether a stop since this keeper last held a grant saw the signer exit.
   * It stays proven while the keeper keeps the signer stopped (a later sweep
   * that finds nothing does not undo it); `holds` tells a stop that began
   * before the last hold from one after it.
   */
  private proof: StopProof = { evidence: 'unproven', why: 'the signer was not stopped yet' };
  private holds = 0;
  /** Whether startSigner has handed the current grant's key over (always true without one). */
  private started = true;
  private markResumed: () => void = () => undefined;
  /** Settles once the keeper has taken up a grant left on disk (or found none): reconciling a client waits for it. */
  readonly resumed = new Promise<void>((resolve) => {
    this.markResumed = resolve;
  });

  constructor(
    private readonly config: KeeperConfig,
    private readonly d: KeeperDeps,
  ) {
    this.since = d.clock.wall();
  }

  status(): KeeperStatus {
    const g = this.held ?? this.lost ?? this.last;
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    return {
      validator: this.config.validator,
      state: this.state,
      reason: this.reason,
      since: new Date(this.since).toISOString(),
      epoch: g?.record.epoch ?? null,
      slot: g?.record.slot ?? null,
      podUid: g?.record.podUid ?? null,
      expiresAt: iso(g ? g.record.exp * 1000 : null),
      holdUntil: iso(this.held ? this.held.deadline.wall : null),
      lastRenewedAt: iso(this.lastRenewedAt),
      renewFailures: this.failures,
      renewFailuresTotal: this.failuresTotal,
    };
  }

  private set(state: KeeperState, reason: string | null): void {
    if (state !== this.state || reason !== this.reason) {
      this.d.log(`${state}${reason ? `: ${reason}` : ''}`);
      this.since = this.d.clock.wall();
    }
    this.state = state;
    this.reason = reason;
    if (state === 'released') this.released.abort();
  }

  /** Serialised, so the sweeper and a state change never race each other's signals. */
  private stopSigner(): Promise<void> {
    const holds = this.holds;
    this.stopChain = this.stopChain
      .then(async () => {
        const r = await this.d.stopSigner();
        if (holds === this.holds && this.proof.evidence !== 'proven') this.proof = r;
      })
      .catch((e: unknown) => this.d.log(`stopping the signer failed: ${(e as Error).name}`));
    return this.stopChain;
  }

  private get signal(): AbortSignal {
    return this.stopping.signal;
  }

  /** Runs until shutdown() (SIGTERM) has finished. */
  async run(): Promise<void> {
    // Decide from the disk before the sweeper looks at the state: a keeper
    // restarted next to a running signer with a good grant must not stop it.
    const onDisk = await readGrant(this.config.keyDir);
    const resumed = onDisk !== null && onDisk.record.validator === this.config.validator;
    if (resumed) {
      this.hold(onDisk.token, onDisk.record, sentFromRecord(onDisk.record.sentAt, this.d.clock).mono);
      await this.start();
    }
    this.markResumed();
    const sweeper = this.sweep();
    this.loop = this.main(resumed);
    await this.loop;
    await sweeper;
  }

  private async main(resumed: boolean): Promise<void> {
    if (!resumed) {
      await this.withoutKey();
      await this.acquireFresh();
    }
    while (!this.signal.aborted) {
      if (this.state === 'holding') await this.keepHolding();
      else if (this.state === 'lost') await this.recover();
      else await this.d.sleep(60_000, this.signal);
    }
  }

  private hold(token: string, record: GrantRecord, sentMono: number): void {
    const deadline = deadlineFromSend({ wall: record.sentAt, mono: sentMono }, lifetimeMs(record), this.config.renewMarginMs);
    this.held = { token, record, sentMono, deadline };
    this.last = this.held;
    this.lost = null;
    this.history = null;
    this.holds++;
    this.proof = { evidence: 'unproven', why: 'the signer was not stopped since the grant was taken' };
    this.started = this.d.startSigner === undefined;
    this.set('holding', null);
  }

  /** The client lost the key (it restarted on an empty data dir): hand it over again at the next wake. */
  reload(): void {
    if (this.state === 'holding' && this.d.startSigner) this.started = false;
  }

  /** Keymanager mode: import the held key; a failure is retried while holding. */
  private async start(): Promise<void> {
    if (this.started || this.state !== 'holding' || !this.d.startSigner) return;
    const holds = this.holds;
    const ok = await this.d.startSigner().catch((e: unknown) => {
      this.d.log(`handing the key to the client failed: ${(e as Error).name}`);
      return false;
    });
    if (holds === this.holds && this.state === 'holding') this.started = ok;
  }

  /** While not holding, keep the signer stopped: the validator container restarts it on its own. */
  private async sweep(): Promise<void> {
    while (this.state !== 'released') {
      if (this.state !== 'holding') await this.stopSigner();
      await this.d.sleep(sweepMs, this.released.signal);
    }
  }

  private async withoutKey(): Promise<void> {
    await this.stopSigner();
    await this.wipe();
  }

  private async wipe(): Promise<void> {
    await this.d.beforeWipe?.();
    await wipeDir(this.config.keyDir);
  }

  /**
   * Stop the signer, take its export (it is complete only now), and wipe.
   * An export that is not there yet (a wrapper writes it after its client
   * exited) is waited for only after the key is gone, so that nothing can
   * start the signer again meanwhile.
   */
  private async stopTakeHistoryAndWipe(): Promise<void> {
    await this.stopSigner();
    // In the Keymanager mode the client's DELETE handed the history back with the stop.
    let exported = this.proof.interchange ?? (await this.exportSlashingProtection(0));
    await this.wipe();
    // The validator container may restart its client between that stop and
    // the wipe, and the client may sign again before the export command's
    // answer is taken: stop it once more (with the key gone it cannot come
    // back) and export again, so the history handed back covers those too.
    // Found by the chaos harness (test/chaos/).
    if (this.config.exportCommand !== null && this.proof.interchange === undefined) {
      await this.stopSigner();
      exported = (await this.exportSlashingProtection(0)) ?? exported;
    }
    if (exported === null && this.config.exportWaitMs > 0 && this.d.startSigner === undefined) {
      exported = await this.exportSlashingProtection(this.config.exportWaitMs);
      await this.wipe();
    }
    if (exported !== null) this.history = exported;
  }

  private async acquireFresh(): Promise<void> {
    this.set('waiting', 'no grant on disk; asking the broker');
    const got = await acquireGrant({ ...this.d, settings: this.config, signal: this.signal });
    if (got.kind === 'aborted') return;
    if (got.kind === 'gave_up') return this.fence(got.reason, null);
    const record = await installGrant(this.config.keyDir, this.config.validator, got, this.d.writeLayout);
    this.hold(got.token, record, got.sent.mono);
    await this.start();
  }

  private async keepHolding(): Promise<void> {
    const h = this.held;
    if (h === null) return;
    const { clock } = this.d;
    const left = remainingMs(h.deadline, clock);
    if (left <= 0) return this.lose(`could not renew within the grant's lifetime less the ${seconds(this.config.renewMarginMs)} margin`);
    if (!this.started) await this.start();
    const due = this.failures === 0 ? renewAtMono(h.sentMono, lifetimeMs(h.record)) : clock.mono();
    if (due > clock.mono()) {
      // A key the client does not have yet is offered again soon, between renewals.
      await this.d.sleep(Math.min(due - clock.mono(), left, this.started ? Infinity : this.config.retryMaxMs), this.signal);
      return;
    }
    const sent = { wall: clock.wall(), mono: clock.mono() };
    const answer = await this.d.client.renew(h.token, { signal: this.signal, timeoutMs: Math.min(this.config.httpTimeoutMs, left) });
    if (this.signal.aborted) return;
    if (answer.ok) {
      const claims = grantClaims(answer.body.grant);
      if (claims.epoch !== h.record.epoch || claims.podUid !== h.record.podUid || claims.validator !== h.record.validator) {
        return this.fence(`the broker renewed into epoch ${claims.epoch} for another instance; refusing it`, h.token);
      }
      const record: GrantRecord = { ...h.record, iat: claims.iat, exp: claims.exp, jti: claims.jti, sentAt: sent.wall };
      const deadline = deadlineFromSend(sent, lifetimeMs(record), this.config.renewMarginMs);
      if (isPast(deadline, clock)) return this.renewFailed({ ok: false, kind: 'unreachable', reason: 'the renewed grant was already spent on arrival' });
      this.held = { token: answer.body.grant, record, sentMono: sent.mono, deadline };
      if (this.failures > 0) this.d.log(`renewed after ${this.failures} failed attempt(s)`);
      this.failures = 0;
      this.lastRenewedAt = sent.wall;
      this.reason = null;
      await writeGrant(this.config.keyDir, answer.body.grant, record).catch((e: unknown) => this.d.log(`could not rewrite grant files (${(e as Error).name}); holding on the grant in memory`));
      return;
    }
    if (answer.kind === 'refused' && answer.code === 'stale_epoch') {
      return this.fence(`stale_epoch: the broker moved this validator past epoch ${h.record.epoch} (promotion or takeover)`, h.token);
    }
    if (answer.kind === 'refused' && answer.code === 'invalid_grant') {
      return this.lose('invalid_grant: the broker no longer accepts this grant for renewal');
    }
    return this.renewFailed(answer);
  }

  private async renewFailed(f: Failure): Promise<void> {
    this.failures++;
    this.failuresTotal++;
    const h = this.held;
    const why = f.kind === 'unreachable' ? `broker unreachable (${f.reason})` : `${f.code} (${f.status})`;
    const left = h ? remainingMs(h.deadline, this.d.clock) : 0;
    const wait = Math.min(Math.max(backoffMs(this.failures - 1, this.config.retryMaxMs), f.kind === 'refused' ? (f.retryAfterMs ?? 0) : 0), this.config.retryMaxMs, Math.max(0, left));
    this.reason = `renewal failing: ${why}`;
    this.d.log(`renewal ${this.failures} failed: ${why}; ${seconds(left)} left before the signer is stopped; retrying in ${seconds(wait)}`);
    await this.d.sleep(wait, this.signal);
  }

  /** No renewal in time: stop, wipe, and try to get the same epoch back. */
  private async lose(reason: string): Promise<void> {
    this.lost = this.held;
    this.held = null;
    this.set('lost', reason);
    await this.stopTakeHistoryAndWipe();
  }

  /**
   * Init containers do not run again, so recovery is the keeper's: only the
   * same pod instance at the same epoch comes back (the broker re-issues to a
   * holder it still designates). Anything else means someone else may hold it.
   */
  private async recover(): Promise<void> {
    const lost = this.lost;
    if (lost === null) return this.fence('lost a grant it does not know', null);
    const got = await acquireGrant({ ...this.d, settings: { retryMaxMs: this.config.retryMaxMs, waitForDesignation: false, fetchWaitMs: this.config.fetchWaitMs }, signal: this.signal });
    if (got.kind === 'aborted') return;
    if (got.kind === 'gave_up') {
      const ack = got.failure.kind === 'refused' && got.failure.code === 'not_designated' ? lost.token : null;
      return this.fence(`not recovering: ${got.reason}`, ack);
    }
    const c = got.claims;
    if (c.epoch !== lost.record.epoch || c.podUid !== lost.record.podUid) {
      // A designation at a new epoch for this pod (an operator re-designated
      // the slot to fence it): not ours to resume. Hand it straight back.
      // The signer has been stopped since the loss; its history then is its last word.
      await this.releaseWithRetry(got.token, this.history, 'returning the new-epoch grant');
      return this.fence(`the broker now designates this pod at epoch ${c.epoch}, not ${lost.record.epoch}; not resuming (delete the pod to start clean)`, null);
    }
    const record = await installGrant(this.config.keyDir, this.config.validator, got, this.d.writeLayout);
    this.hold(got.token, record, got.sent.mono);
    await this.start();
    this.d.log(`recovered: the broker still designates this pod at epoch ${record.epoch}`);
  }

  /** Fenced: stop, wipe, and say so to the broker with the stale grant, so a successor need not wait out the horizon. */
  private async fence(reason: string, staleGrant: string | null): Promise<void> {
    const wasHolding = this.held !== null;
    this.held = null;
    this.lost = null;
    // 'fenced' is reported only once the signer is stopped and the key wiped:
    // whoever reads the state may act on it. The acknowledgement carries the
    // same export a release would (a lost grant's was taken when it was lost).
    if (staleGrant !== null && wasHolding) await this.stopTakeHistoryAndWipe();
    else await this.withoutKey();
    this.set('fenced', reason);
    if (staleGrant !== null) {
      const ok = await this.releaseWithRetry(staleGrant, this.history, 'acknowledging the fence');
      if (!ok) this.unacknowledged = staleGrant;
    }
  }

  /** SIGTERM: stop the signer, take its slashing-protection export, wipe, release. */
  async shutdown(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    // Let a grant being installed land first, so the wipe below removes it.
    await this.loop.catch(() => undefined);
    const grant = this.held?.token ?? this.lost?.token ?? this.unacknowledged;
    const label = this.held ? 'releasing' : this.lost ? 'releasing the lost grant' : this.unacknowledged ? 'acknowledging the fence' : null;
    this.set('releasing', 'SIGTERM');
    if (grant !== null) await this.stopTakeHistoryAndWipe();
    else await this.withoutKey();
    if (grant !== null && label !== null) await this.releaseWithRetry(grant, this.history, label);
    this.held = null;
    this.lost = null;
    this.set('released', null);
  }

  private async exportSlashingProtection(waitMs: number): Promise<Record<string, unknown> | null> {
    if (this.config.exportCommand !== null && waitMs === 0) {
      const [cmd, ...args] = this.config.exportCommand;
      try {
        const { stdout } = await promisify(execFile)(cmd!, args, { timeout: 60_000, maxBuffer: exportCommandLimit });
        if (stdout.trim() !== '') return this.interchange(stdout, 'KEYHOLD_SLASHING_EXPORT_COMMAND output');
      } catch (e) {
        this.d.log(`KEYHOLD_SLASHING_EXPORT_COMMAND failed (${(e as { code?: unknown }).code ?? (e as Error).name}); looking for ${fileNames.slashingExport}`);
      }
    }
    const path = join(this.config.keyDir, fileNames.slashingExport);
    // A wrapper writes the file (whole, by rename) after its client exited, which may be just after the stop.
    const end = this.d.clock.mono() + waitMs;
    let text = await readFile(path, 'utf8').catch(() => null);
    while (text === null && this.d.clock.mono() < end) {
      await this.d.sleep(Math.min(100, end - this.d.clock.mono()));
      text = await readFile(path, 'utf8').catch(() => null);
    }
    if (text === null && waitMs > 0) this.d.log(`no ${fileNames.slashingExport} within ${seconds(waitMs)} of the stop; handing back no history`);
    return text === null ? null : this.interchange(text, fileNames.slashingExport);
  }

  /**
   * The export as the broker will check it. One larger than the broker takes
   * (a complete history of a long-running validator) is compacted here by the
   * EIP-3076 minimal strategy, the same the broker merges by, so that no
   * history is lost to a size limit; the broker still checks the keys and the
   * chain.
   */
  private interchange(text: string, source: string): Record<string, unknown> | null {
    let v: unknown;
    try {
      v = JSON.parse(text) as unknown;
    } catch {
      v = null;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.d.log(`${source} is not a JSON object; releasing without it`);
      return null;
    }
    if (text.length <= interchangeLimit) return v as Record<string, unknown>;
    const root = (v as { metadata?: { genesis_validators_root?: unknown } }).metadata?.genesis_validators_root;
    const read = readInterchange(v, { genesisValidatorsRoot: typeof root === 'string' ? root : null, isOwnKey: () => true });
    if (!read.ok) {
      this.d.log(`${source} is larger than ${interchangeLimit} bytes and not a valid interchange (${read.code}); releasing without it`);
      return null;
    }
    const compact = writeInterchange(read.history);
    this.d.log(`${source}: compacted ${text.length} bytes to ${compact.length} (EIP-3076 minimal: highest block slot, attestation source and target per key)`);
    return JSON.parse(compact) as Record<string, unknown>;
  }

  /** Release (or acknowledge) until the broker answers or the release timeout passes. True when it answered. */
  private async releaseWithRetry(grant: string, interchange: Record<string, unknown> | null, what: string): Promise<boolean> {
    const end = this.d.clock.mono() + this.config.releaseTimeoutMs;
    let sp = interchange;
    // Only what a stop showed: "no signer found" must not let a successor start early.
    const { evidence, why } = this.proof;
    for (let attempt = 0; ; attempt++) {
      const left = end - this.d.clock.mono();
      const answer = await this.d.client.release(grant, sp, evidence, { timeoutMs: Math.max(1, Math.min(this.config.httpTimeoutMs, left)) });
      if (answer.ok) {
        const lost = answer.body.slashingProtectionCode ? ` (${answer.body.slashingProtectionCode}: the successor is told its predecessor is unproven)` : '';
        this.d.log(`${what}: ${answer.body.outcome} at epoch ${answer.body.epoch}; slashing protection ${answer.body.slashingProtection}${lost}`);
        if (answer.body.outcome === 'acknowledged' && evidence === 'unproven') {
          this.d.log(`${what}: the signer's stop is unproven (${why}); the successor waits out the horizon`);
        }
        return true;
      }
      if (answer.kind === 'refused' && sp !== null && (answer.status === 400 || answer.status === 413)) {
        // A bad interchange must not cost the clean handoff.
        this.d.log(`${what}: the broker refused the slashing-protection interchange (${answer.code}); releasing without it`);
        sp = null;
        continue;
      }
      if (answer.kind === 'refused' && answer.status !== 503 && answer.status < 500) {
        this.d.log(`${what}: refused (${answer.code}); nothing more to do`);
        return true;
      }
      const wait = Math.min(backoffMs(attempt, this.config.retryMaxMs), end - this.d.clock.mono());
      if (wait <= 0) {
        this.d.log(`${what}: gave up after ${seconds(this.config.releaseTimeoutMs)} (${answer.kind === 'refused' ? answer.code : answer.reason}); a successor waits out the horizon`);
        return false;
      }
      await this.d.sleep(wait);
    }
  }
}
