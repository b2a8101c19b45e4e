// Operator actions: define a validator by importing its key, promote a
// standby, read status, and query or verify the ledger. Every change is
// ledgered with who, why and when.

import { createRecord, decidePromotion, decideReimport, type ValidatorRecord } from '../core/designation';
import { KeyholdError } from '../core/errors';
import { fingerprint, type KeyMaterial } from '../core/key-material';
import type { Timing } from '../core/horizon';
import { normaliseGenesisRoot } from '../core/slashing-protection';
import { CheckpointChainVerifier, auditVerdict, checkpointDigest, ledgerExportFormat } from '../core/checkpoints';
import { holdingIntervals, type HoldingInterval } from '../core/holders';
import { pseudonymousActor, type Pseudonymiser } from '../core/pseudonyms';
import { ChainVerifier, type ChainHead, type LedgerEntry, type VerifyProblem } from '../core/ledger';
import { checkpointSigned, type GrantSigner } from '../grants/signer';
import type { Checkpointer } from './checkpointer';
import { hashesAtPositions, sinceKeyframe } from './ledger-reads';
import type { Operator } from '../identity/operator-token';
import { KeyStoreOwnershipError, KeyStoreValueTooLargeError, canVerifyChains, type ChainsVerification, type Clock, type KeyStore, type LedgerPage, type LedgerQuery, type StateStore, type StoredCheckpoint } from '../ports';
import { commitOrThrow, draft, withCasRetry } from './decisions';
import { asStateStoreError, type DesignationReader } from './designation-reader';
import { publicReason } from './key-reader';
import { sharedMaterialVerifier, type MaterialVerifier } from '../material/verifier';

export interface OperationsDeps {
  readonly state: StateStore;
  readonly designations: DesignationReader;
  /** Every replica, in order: an import writes them all. */
  readonly keyStores: readonly KeyStore[];
  readonly signer: GrantSigner;
  readonly clock: Clock;
  readonly timing: Timing;
  readonly checkpointer: Checkpointer;
  /** Set when the install ledgers identifiers as pseudonyms: query values are mapped the same way. */
  readonly pseudonyms?: Pseudonymiser;
  /** Distinct operators a promotion needs (DESIGN.md: optionally two). */
  readonly promotionApprovals?: 1 | 2;
  /** Checks imported material and names its key; default: EIP-2335 checks in a worker thread. */
  readonly materialVerifier?: MaterialVerifier;
}

/** How long a proposed promotion waits for its second approver. */
export const proposalTtlMs = 15 * 60_000;

export type PromoteResult = { readonly status: 'promoted'; readonly record: ValidatorRecord; readonly approvers: readonly string[] } | { readonly status: 'pending'; readonly record: ValidatorRecord };

export interface ReplicaCheck {
  readonly validator: string;
  readonly store: string;
  readonly status: 'ok' | 'missing' | 'differs' | 'error';
  readonly version: string | null;
  readonly fingerprint: string | null;
  readonly error?: string;
}

/** Where a validator may run, and as whom. */
export interface ImportPolicy {
  readonly slots: readonly string[];
  readonly serviceAccounts: readonly string[];
  /** The network's genesis validators root; required at the HTTP edge for eip2335. */
  readonly genesisValidatorsRoot?: string | null;
}

export interface ImportResult {
  readonly record: ValidatorRecord;
  readonly fingerprint: string;
  readonly replicas: readonly { store: string; version: string }[];
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly chains: number;
  readonly entries: number;
  /** Checkpoints that verified in the checkpoint chain. */
  readonly checkpoints: number;
  readonly problem: VerifyProblem | null;
  readonly checkpoint: { seq: number; time: number; digest: string; verified: boolean } | null;
  /** When ok: the newest checkpoint, to keep outside the store and pass as the next run's trust. */
  readonly trust?: StoredCheckpoint;
}

const actorOf = (op: Operator): string => `operator:${op.name}`;
const verifyPage = 5000;

export class OperationsService {
  constructor(private readonly d: OperationsDeps) {}

  /**
   * Write the material to every replica (or only `onlyStores`, to repair a
   * replica `keys check` reports missing), then record the validator. A
   * partial import of an existing validator must carry the same material:
   * replicas never drift apart by import. `policy.genesisValidatorsRoot`
   * (0x + 64 hex) is the network whose slashing-protection interchanges the
   * validator accepts; it is recorded once and never changed.
   *
   * Before anything is written: the material is checked (an EIP-2335
   * keystore decrypts with its password and holds the key it names), and its
   * key must not belong to another validator id. The state store's
   * transaction checks the key again (`claimKey`), for imports that race.
   */
  async importKey(op: Operator, validator: string, policy: ImportPolicy, material: KeyMaterial, reason: string | null, onlyStores?: readonly string[]): Promise<ImportResult> {
    const { slots, serviceAccounts } = policy;
    const given = policy.genesisValidatorsRoot ?? null;
    const root = given === null ? null : normaliseGenesisRoot(given);
    if (given !== null && root === null) throw new KeyholdError('invalid_request');
    const fp = fingerprint(material.publicId);
    const targets = onlyStores ? this.d.keyStores.filter((s) => onlyStores.includes(s.name)) : this.d.keyStores;
    if (onlyStores && (targets.length !== new Set(onlyStores).size || targets.length === 0)) throw new KeyholdError('unknown_store');
    const key = await (this.d.materialVerifier ?? sharedMaterialVerifier).identify(material);
    const existing = await this.read(validator);
    const refused = existing ? decideReimport(existing, slots, fp, material.format, serviceAccounts, root) : null;
    if (refused instanceof KeyholdError) throw refused;
    if (existing && onlyStores && existing.keyFingerprint !== fp) throw new KeyholdError('validator_exists');
    await this.checkKeyFree(key, validator);
    // Material first: a record that names a key no store has would only fail later, at fetch.
    const replicas: { store: string; version: string }[] = [];
    for (const store of targets) {
      try {
        replicas.push({ store: store.name, ...(await store.put(validator, material)) });
      } catch (e) {
        if (e instanceof KeyStoreOwnershipError) throw new KeyholdError('key_not_owned', { cause: e });
        if (e instanceof KeyStoreValueTooLargeError) throw new KeyholdError('key_too_large', { cause: e });
        throw new KeyImportError(store.name, publicReason(e), { cause: e });
      }
    }
    const record = await withCasRetry(async () => {
      const now = this.d.clock.now();
      const current = await this.read(validator);
      const next = current
        ? decideReimport(current, slots, fp, material.format, serviceAccounts, root)
        : createRecord({ id: validator, slots, serviceAccounts, keyFingerprint: fp, keyFormat: material.format, now, genesisValidatorsRoot: root });
      if (next instanceof KeyholdError) throw next;
      const action = current && current.keyFingerprint !== fp ? 'key_rotated' : 'key_imported';
      const entry = draft(
        {
          time: now,
          actor: actorOf(op),
          action,
          validator,
          epoch: next.designation.epoch,
          slot: next.designation.slot,
          reason,
          details: {
            keyFingerprint: fp,
            keyFormat: material.format,
            slots: slots.join(','),
            serviceAccounts: serviceAccounts.join(','),
            replicas: replicas.map((r) => `${r.store}@${r.version}`).join(','),
            genesisValidatorsRoot: next.genesisValidatorsRoot ?? null,
          },
        },
        true,
      );
      await commitOrThrow(this.d.state, { next, expectedVersion: current?.version ?? null }, [entry], { window: { timing: this.d.timing, decidedAt: now, clock: this.d.clock }, claimKey: key });
      return next;
    });
    // Covered by the checkpoint schedule like every other decision: a
    // keyframe names every chain head, so one per import made importing a
    // fleet quadratic in reads and in checkpoint storage.
    return { record, fingerprint: fp, replicas };
  }

  /**
   * 409 `key_in_use` when the key belongs to another validator: by the key
   * index, or, for records imported before the index existed, by another
   * record's fingerprint of the same key (with or without `0x`).
   */
  private async checkKeyFree(key: string, validator: string): Promise<void> {
    let owner: string | null;
    let unindexed: ReadonlyMap<string, readonly string[]>;
    try {
      [owner, unindexed] = await Promise.all([this.d.state.keyOwner(key), this.unindexedKeys()]);
    } catch (e) {
      throw asStateStoreError(e);
    }
    const other = (fp: string) => (unindexed.get(fp) ?? []).some((id) => id !== validator);
    if ((owner !== null && owner !== validator) || other(fingerprint(key)) || other(fingerprint(`0x${key}`))) throw new KeyholdError('key_in_use');
  }

  /**
   * The fingerprints of records that may predate the key index, read once
   * per instance rather than once per import (which made importing a fleet
   * quadratic). Every record written since carries its key in the index, so
   * what a later read would add is caught by `keyOwner`; a record rotated
   * since keeps its old key here, which only errs towards refusing, as the
   * index does (a key is its validator's for ever). A failed read is not
   * kept: the next import reads again.
   */
  private unindexedKeys(): Promise<ReadonlyMap<string, readonly string[]>> {
    this.unindexed ??= this.d.state.listValidators().then(
      (records) => {
        // Before the index, two ids could name one key: keep them all.
        const byFingerprint = new Map<string, string[]>();
        for (const r of records) byFingerprint.set(r.keyFingerprint, [...(byFingerprint.get(r.keyFingerprint) ?? []), r.id]);
        return byFingerprint;
      },
      (e: unknown) => {
        this.unindexed = null;
        throw e;
      },
    );
    return this.unindexed;
  }

  private unindexed: Promise<ReadonlyMap<string, readonly string[]>> | null = null;

  /**
   * Ledger a refused operator request token (on the broker chain: the
   * request never reached a validator's decision). The same token refused
   * the same way is ledgered once per broker instance: a captured token
   * replayed in a loop must not grow the ledger without bound.
   */
  async operatorRefused(operator: string, code: string, facts: { request: string; claim: string; validator: string | null; tokenId: string | null }): Promise<void> {
    const key = facts.tokenId === null ? null : `${facts.tokenId}\0${code}\0${facts.claim}`;
    if (key !== null) {
      if (this.refusedTokens.has(key)) return;
      this.refusedTokens.add(key);
      if (this.refusedTokens.size > 10_000) this.refusedTokens.delete(this.refusedTokens.values().next().value!);
    }
    const entry = draft({ time: this.d.clock.now(), actor: `operator:${operator}`, action: 'denied', validator: facts.validator, epoch: null, slot: null, reason: code, details: { request: facts.request, claim: facts.claim } }, false);
    try {
      await commitOrThrow(this.d.state, undefined, [entry]);
    } catch (e) {
      // Not ledgered: the next refusal of it may try again.
      if (key !== null) this.refusedTokens.delete(key);
      throw e;
    }
  }

  private readonly refusedTokens = new Set<string>();

  async promote(op: Operator, validator: string, target: string, reason: string): Promise<PromoteResult> {
    const result = await withCasRetry(async (): Promise<PromoteResult> => {
      const { record: current, readAt } = await this.d.designations.read(validator);
      if (!current) throw new KeyholdError('unknown_validator');
      const now = this.d.clock.now();
      const decision = decidePromotion(this.d.timing, current, target, { operator: actorOf(op), principals: op.principals, reason, approvals: this.d.promotionApprovals ?? 1, proposalTtlMs }, now);
      const base = { time: now, actor: actorOf(op), validator, reason, slot: target };
      if (decision.kind === 'deny') {
        await commitOrThrow(this.d.state, undefined, [draft({ ...base, action: 'denied', epoch: current.designation.epoch, details: { request: 'promote', code: decision.error.code } }, true)]);
        throw decision.error;
      }
      const from = current.designation;
      const entry =
        decision.kind === 'proposed'
          ? draft({ ...base, action: 'promotion_proposed', epoch: from.epoch, details: { fromSlot: from.slot, expiresAt: decision.next.pendingPromotion!.expiresAt } }, true)
          : draft(
              {
                ...base,
                action: 'promoted',
                epoch: decision.next.designation.epoch,
                details: { fromSlot: from.slot, fromEpoch: from.epoch, fromState: from.state, fromPod: from.podUid, notBefore: decision.next.designation.notBefore, approvers: decision.approvers.join(',') },
              },
              true,
            );
      await commitOrThrow(this.d.state, { next: decision.next, expectedVersion: current.version }, [entry], { window: { timing: this.d.timing, decidedAt: now, clock: this.d.clock } });
      this.d.designations.remember(validator, decision.next, readAt);
      return decision.kind === 'proposed' ? { status: 'pending', record: decision.next } : { status: 'promoted', record: decision.next, approvers: decision.approvers };
    });
    if (result.status === 'promoted') await this.checkpoint();
    return result;
  }

  /**
   * Each known validator against each replica: ok, missing, differs (another
   * fingerprint) or error. Reads each value with `get`, because listing
   * secrets cannot be scoped to a prefix in AWS or GCP IAM, and the broker's
   * role should be able to read only its own secrets. The material is wiped
   * as soon as it is fingerprinted.
   */
  async checkKeys(): Promise<ReplicaCheck[]> {
    const records = await this.list();
    const rows: ReplicaCheck[] = [];
    for (const r of records) {
      for (const store of this.d.keyStores) {
        try {
          const got = await store.get(r.id);
          if (!got) {
            rows.push({ validator: r.id, store: store.name, status: 'missing', version: null, fingerprint: null });
            continue;
          }
          const fp = fingerprint(got.material.publicId);
          for (const f of got.material.files.values()) f.wipe();
          rows.push({ validator: r.id, store: store.name, status: fp === r.keyFingerprint ? 'ok' : 'differs', version: got.version, fingerprint: fp });
        } catch (e) {
          rows.push({ validator: r.id, store: store.name, status: 'error', version: null, fingerprint: null, error: publicReason(e) });
        }
      }
    }
    return rows;
  }

  async status(validator: string): Promise<ValidatorRecord> {
    const record = await this.read(validator);
    if (!record) throw new KeyholdError('unknown_validator');
    return record;
  }

  async list(): Promise<ValidatorRecord[]> {
    try {
      return await this.d.state.listValidators();
    } catch (e) {
      throw asStateStoreError(e);
    }
  }

  async query(q: LedgerQuery): Promise<LedgerPage> {
    const p = this.d.pseudonyms;
    const mapped: LedgerQuery = p ? { ...q, ...(q.actor ? { actor: pseudonymousActor(q.actor, p) } : {}), ...(q.pod ? { pod: p(q.pod) } : {}) } : q;
    try {
      return await this.d.state.queryLedger(mapped);
    } catch (e) {
      throw asStateStoreError(e);
    }
  }

  /**
   * Who held the validator's key, from when to when (core/holders.ts), from
   * its chain alone; intervals overlapping [since, until) when given.
   */
  async holders(validator: string, window: { since?: number; until?: number } = {}): Promise<HoldingInterval[]> {
    try {
      const chain: LedgerEntry[] = [];
      for (let from = 1; ; ) {
        const page = await this.d.state.readChain(validator, from, verifyPage);
        chain.push(...page);
        if (page.length < verifyPage) break;
        from += page.length;
      }
      if (chain.length === 0 && !(await this.d.state.getValidator(validator))) throw new KeyholdError('unknown_validator');
      return holdingIntervals(validator, chain).filter((i) => (window.until === undefined || i.from < window.until) && (window.since === undefined || i.to === null || i.to >= window.since));
    } catch (e) {
      if (e instanceof KeyholdError) throw e;
      throw asStateStoreError(e);
    }
  }

  /** Sign a commitment to every chain head now, extending the checkpoint chain; with the number of chains it covers. */
  async checkpoint(): Promise<{ checkpoint: StoredCheckpoint; chains: number }> {
    try {
      return await this.d.checkpointer.sign();
    } catch (e) {
      throw asStateStoreError(e);
    }
  }

  /**
   * Walk every chain from genesis and the whole checkpoint chain; hold the
   * newest checkpoint against the chains, and the chains' uncovered tails
   * against the lag it promised. With `trusted` (a checkpoint kept outside
   * the store), the store's checkpoint chain must contain it.
   */
  async verify(trusted: StoredCheckpoint | null = null): Promise<VerifyReport> {
    if (trusted && (checkpointDigest(trusted) !== trusted.digest || !(await checkpointSigned((t) => this.d.signer.verifyStatement(t), trusted)))) {
      throw new KeyholdError('invalid_trust');
    }
    try {
      const cpv = new CheckpointChainVerifier(trusted);
      let checkpoints = 0;
      for (let from = 1; ; ) {
        const page = await this.d.state.listCheckpoints(from, verifyPage);
        for (const c of page) if (cpv.push(c)) checkpoints += 1;
        if (page.length < verifyPage) break;
        from += page.length;
      }
      const latest = cpv.latest;
      const latestHeads = cpv.latestHeads;
      const wanted = new Map<string, number>(latestHeads.map((h) => [h.chain, h.seq]));
      const heads = await this.d.state.chainHeads();
      const chainSet = new Set(heads.map((h) => h.chain));
      for (const h of latestHeads) chainSet.add(h.chain);
      const chains = [...chainSet].sort();
      const state = this.d.state;
      const found = (canVerifyChains(state) ? await state.verifyChains(chains, wanted) : null) ?? (await this.walkChains(chains, wanted));
      const latestSigned = latest ? await checkpointSigned((t) => this.d.signer.verifyStatement(t), latest) : false;
      const firstUncovered: { chain: string; seq: number; time: number }[] = [];
      for (const h of heads) {
        const covered = wanted.get(h.chain) ?? 0;
        if (h.seq <= covered) continue;
        const [e] = await this.d.state.readChain(h.chain, covered + 1, 1);
        if (e) firstUncovered.push({ chain: e.chain, seq: e.seq, time: e.time });
      }
      const trustedHeads = cpv.result() === null ? cpv.trustedHeads : null;
      const trustedAt = trustedHeads ? { heads: trustedHeads, hashesAt: await this.hashesAt(trustedHeads, latestHeads, found.hashesAt) } : null;
      const problem = auditVerdict({ chainProblem: found.problem, checkpointProblem: cpv.result(), latest, latestSigned, latestHeads, hashesAt: found.hashesAt, firstUncovered, now: this.d.clock.now(), trusted: trustedAt });
      return {
        ok: problem === null,
        chains: chains.length,
        entries: found.entries,
        checkpoints,
        problem,
        checkpoint: latest ? { seq: latest.seq, time: latest.time, digest: latest.digest, verified: latestSigned } : null,
        ...(problem === null && latest ? { trust: latest } : {}),
      };
    } catch (e) {
      throw asStateStoreError(e);
    }
  }

  /**
   * The whole ledger as NDJSON lines for `keyhold audit export`: a header,
   * every checkpoint in order, then every chain's entries in order, and a
   * trailer with the counts, so a cut-off file is told from a short ledger.
   * Nothing in it needs the store to check: `audit verify --file` needs only
   * the broker's published JWKS.
   */
  async *exportLines(): AsyncGenerator<string> {
    const now = this.d.clock.now();
    const chainSet = new Set((await this.d.state.chainHeads()).map((h) => h.chain));
    // A chain the latest checkpoint covers but the store no longer lists is exported too (as empty): the file shows it cut.
    const latest = await this.d.state.latestCheckpoint();
    for (const c of latest ? await sinceKeyframe(this.d.state, latest) : []) for (const h of c.heads) chainSet.add(h.chain);
    const chains = [...chainSet].sort();
    yield `${JSON.stringify({ type: 'header', format: ledgerExportFormat, v: 1, exportedAt: now, chains: chains.length })}\n`;
    let checkpoints = 0;
    for (let from = 1; ; ) {
      const page = await this.d.state.listCheckpoints(from, verifyPage);
      for (const c of page) yield `${JSON.stringify({ type: 'checkpoint', ...c })}\n`;
      checkpoints += page.length;
      if (page.length < verifyPage) break;
      from += page.length;
    }
    let entries = 0;
    for (const chain of chains) {
      for (let from = 1; ; ) {
        const page = await this.d.state.readChain(chain, from, verifyPage);
        let lines = '';
        for (const e of page) lines += `${JSON.stringify({ type: 'entry', ...e })}\n`;
        if (lines) yield lines;
        entries += page.length;
        if (page.length < verifyPage) break;
        from += page.length;
      }
    }
    yield `${JSON.stringify({ type: 'end', checkpoints, entries })}\n`;
  }

  /**
   * chain → hash of the entry at the seq `covered` names. A chain at the same seq
   * in `latestHeads` was held to the same hash along the checkpoint chain, so
   * `latestHashes` has it; the others are read.
   */
  private async hashesAt(covered: readonly ChainHead[], latestHeads: readonly ChainHead[], latestHashes: ReadonlyMap<string, string>): Promise<Map<string, string>> {
    const sameSeq = new Map(latestHeads.map((h) => [h.chain, h.seq]));
    const out = new Map<string, string>();
    const toRead = covered.filter((h) => {
      const known = sameSeq.get(h.chain) === h.seq ? latestHashes.get(h.chain) : undefined;
      if (known !== undefined) out.set(h.chain, known);
      return known === undefined;
    });
    for (const [chain, hash] of await hashesAtPositions(this.d.state, toRead)) out.set(chain, hash);
    return out;
  }

  /** The portable way: every chain in order, page by page, through the port. */
  private async walkChains(chains: readonly string[], wanted: ReadonlyMap<string, number>): Promise<ChainsVerification> {
    const hashesAt = new Map<string, string>();
    let entries = 0;
    for (const chain of chains) {
      const v = new ChainVerifier(chain);
      for (let from = 1; ; ) {
        const page: LedgerEntry[] = await this.d.state.readChain(chain, from, verifyPage);
        for (const e of page) {
          if (!v.push(e)) break;
          entries += 1;
          if (wanted.get(chain) === e.seq) hashesAt.set(chain, e.hash);
        }
        if (v.result() || page.length < verifyPage) break;
        from += page.length;
      }
      const problem = v.result();
      if (problem) return { problem, entries, hashesAt };
    }
    return { problem: null, entries, hashesAt };
  }

  private async read(validator: string): Promise<ValidatorRecord | null> {
    return (await this.d.designations.read(validator)).record;
  }
}

/** A replica refused the import; nothing was recorded. The store's name and a public reason only. */
export class KeyImportError extends KeyholdError {
  constructor(readonly store: string, readonly reason: string, opts: { cause?: unknown }) {
    super('key_store_unavailable', { retryAfter: 10, cause: opts.cause });
  }
}
