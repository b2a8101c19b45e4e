// Operator actions: define a validator by importing its key, promote a
// standby, read status, and query or verify the ledger. Every change is
// ledgered with who, why and when.

import { createRecord, decidePromotion, decideReimport, type ValidatorRecord } from '../core/designation';
import { KeyholdError } from '../core/errors';
import { fingerprint, type KeyMaterial } from '../core/key-material';
import type { Timing } from '../core/horizon';
import { ChainVerifier, checkAgainstCheckpoint, checkpointDigest, type ChainHead, type LedgerEntry, type VerifyProblem } from '../core/ledger';
import type { GrantSigner } from '../grants/signer';
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
  readonly problem: VerifyProblem | null;
  readonly checkpoint: { time: number; digest: string; verified: boolean } | null;
}

const actorOf = (op: Operator): string => `operator:${op.name}`;
const verifyPage = 5000;

export class OperationsService {
  constructor(private readonly d: OperationsDeps) {}

  /**
   * Write the material to every replica (or only `onlyStores`, to repair a
   * replica `keys check` reports missing), then record the validator. A
   * partial import of an existing validator must carry the same material:
   * replicas never drift apart by import.
   *
   * Before anything is written: the material is checked (an EIP-2335
   * keystore decrypts with its password and holds the key it names), and its
   * key must not belong to another validator id. The state store's
   * transaction checks the key again (`claimKey`), for imports that race.
   */
  async importKey(op: Operator, validator: string, policy: ImportPolicy, material: KeyMaterial, reason: string | null, onlyStores?: readonly string[]): Promise<ImportResult> {
    const { slots, serviceAccounts } = policy;
    const fp = fingerprint(material.publicId);
    const targets = onlyStores ? this.d.keyStores.filter((s) => onlyStores.includes(s.name)) : this.d.keyStores;
    if (onlyStores && (targets.length !== new Set(onlyStores).size || targets.length === 0)) throw new KeyholdError('unknown_store');
    const key = await (this.d.materialVerifier ?? sharedMaterialVerifier).identify(material);
    const existing = await this.read(validator);
    if (existing && decideReimport(existing, slots, fp, material.format, serviceAccounts) instanceof KeyholdError) throw new KeyholdError('validator_exists');
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
      const next = current ? decideReimport(current, slots, fp, material.format, serviceAccounts) : createRecord({ id: validator, slots, serviceAccounts, keyFingerprint: fp, keyFormat: material.format, now });
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
          details: { keyFingerprint: fp, keyFormat: material.format, slots: slots.join(','), serviceAccounts: serviceAccounts.join(','), replicas: replicas.map((r) => `${r.store}@${r.version}`).join(',') },
        },
        true,
      );
      await commitOrThrow(this.d.state, { next, expectedVersion: current?.version ?? null }, [entry], { window: { timing: this.d.timing, decidedAt: now, clock: this.d.clock }, claimKey: key });
      return next;
    });
    await this.checkpoint();
    return { record, fingerprint: fp, replicas };
  }

  /**
   * 409 `key_in_use` when the key belongs to another validator: by the key
   * index, or, for records imported before the index existed, by another
   * record's fingerprint of the same key (with or without `0x`).
   */
  private async checkKeyFree(key: string, validator: string): Promise<void> {
    let owner: string | null;
    let records: ValidatorRecord[];
    try {
      [owner, records] = await Promise.all([this.d.state.keyOwner(key), this.d.state.listValidators()]);
    } catch (e) {
      throw asStateStoreError(e);
    }
    const spellings = new Set([fingerprint(key), fingerprint(`0x${key}`)]);
    const legacy = records.find((r) => r.id !== validator && spellings.has(r.keyFingerprint));
    if ((owner !== null && owner !== validator) || legacy) throw new KeyholdError('key_in_use');
  }

  async promote(op: Operator, validator: string, target: string, reason: string): Promise<PromoteResult> {
    const result = await withCasRetry(async (): Promise<PromoteResult> => {
      const { record: current, readAt } = await this.d.designations.read(validator);
      if (!current) throw new KeyholdError('unknown_validator');
      const now = this.d.clock.now();
      const decision = decidePromotion(this.d.timing, current, target, { operator: actorOf(op), reason, approvals: this.d.promotionApprovals ?? 1, proposalTtlMs }, now);
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
    try {
      return await this.d.state.queryLedger(q);
    } catch (e) {
      throw asStateStoreError(e);
    }
  }

  /** Sign a commitment to every chain head, so later truncation is detectable. */
  async checkpoint(): Promise<StoredCheckpoint> {
    try {
      const time = this.d.clock.now();
      const heads = await this.d.state.chainHeads();
      const digest = checkpointDigest({ time, heads });
      const signature = await this.d.signer.signStatement({ checkpoint: digest }, time);
      const c: StoredCheckpoint = { time, heads, digest, signature };
      await this.d.state.putCheckpoint(c);
      return c;
    } catch (e) {
      throw asStateStoreError(e);
    }
  }

  /** Walk every chain from genesis; then hold the latest signed checkpoint against what was read. */
  async verify(): Promise<VerifyReport> {
    try {
      const checkpoint = await this.d.state.latestCheckpoint();
      const wanted = new Map<string, number>((checkpoint?.heads ?? []).map((h) => [h.chain, h.seq]));
      const chainSet = new Set((await this.d.state.chainHeads()).map((h) => h.chain));
      for (const h of checkpoint?.heads ?? []) chainSet.add(h.chain);
      const chains = [...chainSet].sort();
      const state = this.d.state;
      const found = (canVerifyChains(state) ? await state.verifyChains(chains, wanted) : null) ?? (await this.walkChains(chains, wanted));
      let problem = found.problem;
      let cp: VerifyReport['checkpoint'] = null;
      if (!problem && checkpoint) {
        const verified = await this.checkpointSignatureValid(checkpoint);
        cp = { time: checkpoint.time, digest: checkpoint.digest, verified };
        problem = checkAgainstCheckpoint(checkpoint, (chain) => found.hashesAt.get(chain) ?? null);
        if (!verified && !problem) problem = { chain: '_checkpoint', seq: 0, fault: 'hash_mismatch' };
      }
      return { ok: problem === null, chains: chains.length, entries: found.entries, problem, checkpoint: cp };
    } catch (e) {
      throw asStateStoreError(e);
    }
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

  private async checkpointSignatureValid(c: StoredCheckpoint): Promise<boolean> {
    if (checkpointDigest({ time: c.time, heads: c.heads as ChainHead[] }) !== c.digest) return false;
    try {
      const payload = await this.d.signer.verifyStatement(c.signature);
      return payload.checkpoint === c.digest;
    } catch {
      return false;
    }
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
