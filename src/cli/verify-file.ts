// `keyhold audit verify --file`: an export checked on any machine, with only
// the broker's published JWKS. The same verdict as the broker's own verify
// (core auditVerdict), from the file alone: every chain from genesis, the
// checkpoint chain, the newest signature, and coverage as of the export.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { JSONWebKeySet } from 'jose';
import { CheckpointChainVerifier, auditVerdict, checkpointDigest, ledgerExportFormat, parseCheckpoint, type SignedCheckpoint } from '../core/checkpoints';
import { ChainVerifier, type ChainHead, type VerifyProblem } from '../core/ledger';
import { checkpointSigned, jwksStatementVerifier } from '../grants/signer';
import { parseEntry } from '../stores/ledger-codec';

export interface FileReport {
  readonly ok: boolean;
  readonly chains: number;
  readonly entries: number;
  readonly checkpoints: number;
  readonly exportedAt: number;
  readonly problem: VerifyProblem | null;
  readonly checkpoint: { seq: number; time: number; digest: string; verified: boolean } | null;
  readonly trust?: SignedCheckpoint;
}

/** The file is not an export, or not a whole one: nothing about the ledger can be said. */
export class ExportFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportFileError';
  }
}

export interface VerifyFileOptions {
  readonly jwks: JSONWebKeySet;
  readonly trusted?: SignedCheckpoint | null;
  /** Called every `progressEvery` entries with the share of the file read. */
  readonly onProgress?: (entries: number, fraction: number) => void;
  readonly progressEvery?: number;
}

export async function verifyExportFile(path: string, opts: VerifyFileOptions): Promise<FileReport> {
  const verifySignature = jwksStatementVerifier(opts.jwks);
  const trusted = opts.trusted ?? null;
  if (trusted && (checkpointDigest(trusted) !== trusted.digest || !(await checkpointSigned(verifySignature, trusted)))) {
    throw new ExportFileError('the trusted checkpoint is malformed or not signed by a key in the JWKS');
  }
  const size = (await stat(path)).size;
  const input = createReadStream(path);
  const lines = createInterface({ input, crlfDelay: Infinity });
  const every = opts.progressEvery ?? 50_000;

  let header: { exportedAt: number; chains: number } | null = null;
  let trailer: { checkpoints: number; entries: number } | null = null;
  const cpv = new CheckpointChainVerifier(trusted);
  let checkpoints = 0;
  let latest: SignedCheckpoint | null = null;
  let wanted = new Map<string, number>();
  const chains = new Map<string, ChainVerifier>();
  const hashesAt = new Map<string, string>();
  let latestHeads: readonly ChainHead[] = [];
  let trustedWanted = new Map<string, number>();
  const trustedHashes = new Map<string, string>();
  const firstUncovered = new Map<string, { chain: string; seq: number; time: number }>();
  let entries = 0;
  let n = 0;

  for await (const line of lines) {
    n += 1;
    if (line.trim() === '') continue;
    if (trailer) throw new ExportFileError(`line ${n}: data after the end of the export`);
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new ExportFileError(`line ${n} is not JSON`);
    }
    const { type, ...rest } = value;
    if (header === null) {
      if (type !== 'header' || rest.format !== ledgerExportFormat || rest.v !== 1 || !Number.isSafeInteger(rest.exportedAt)) throw new ExportFileError('not a keyhold ledger export (no header line)');
      header = { exportedAt: rest.exportedAt as number, chains: Number(rest.chains) };
    } else if (type === 'checkpoint') {
      if (chains.size > 0) throw new ExportFileError(`line ${n}: a checkpoint after the entries`);
      const c = parseCheckpoint(rest);
      if (!c) throw new ExportFileError(`line ${n}: a malformed checkpoint`);
      if (cpv.push(c)) checkpoints += 1;
    } else if (type === 'entry') {
      if (chains.size === 0) {
        // The checkpoints are all in: the newest says which hashes to keep.
        latest = cpv.latest;
        latestHeads = cpv.latestHeads;
        wanted = new Map(latestHeads.map((h) => [h.chain, h.seq]));
        trustedWanted = new Map((cpv.trustedHeads ?? []).map((h) => [h.chain, h.seq]));
      }
      let e;
      try {
        e = parseEntry('export', rest);
      } catch {
        throw new ExportFileError(`line ${n}: a malformed entry`);
      }
      let v = chains.get(e.chain);
      if (!v) chains.set(e.chain, (v = new ChainVerifier(e.chain)));
      if (v.push(e)) {
        entries += 1;
        if (wanted.get(e.chain) === e.seq) hashesAt.set(e.chain, e.hash);
        if (trustedWanted.get(e.chain) === e.seq) trustedHashes.set(e.chain, e.hash);
        if (e.seq > (wanted.get(e.chain) ?? 0) && !firstUncovered.has(e.chain)) firstUncovered.set(e.chain, { chain: e.chain, seq: e.seq, time: e.time });
        if (opts.onProgress && entries % every === 0) opts.onProgress(entries, Math.min(1, input.bytesRead / Math.max(1, size)));
      }
    } else if (type === 'end') {
      trailer = { checkpoints: Number(rest.checkpoints), entries: Number(rest.entries) };
    } else throw new ExportFileError(`line ${n}: unknown record type`);
  }
  if (!header) throw new ExportFileError('the file is empty');
  if (!trailer) throw new ExportFileError('the export is cut off (no end line): fetch it again');
  if (chains.size === 0) {
    latest = cpv.latest;
    latestHeads = cpv.latestHeads;
  }
  for (const h of latestHeads) if (!chains.has(h.chain)) chains.set(h.chain, new ChainVerifier(h.chain));
  const trustedHeads = cpv.result() === null ? cpv.trustedHeads : null;
  const names = [...chains.keys()].sort();
  const chainProblem = names.map((c) => chains.get(c)!.result()).find((p) => p !== null) ?? null;
  // The file's own counts must match what it holds: lines dropped from a chain's end or a checkpoint's are not silent.
  const countProblem: VerifyProblem | null =
    chainProblem === null && (trailer.entries !== entries || trailer.checkpoints !== checkpoints) && cpv.result() === null ? { chain: '_export', seq: 0, fault: 'truncated' } : null;
  const latestSigned = latest ? await checkpointSigned(verifySignature, latest) : false;
  const problem =
    countProblem ??
    auditVerdict({ chainProblem, checkpointProblem: cpv.result(), latest, latestSigned, latestHeads, hashesAt, firstUncovered: [...firstUncovered.values()], now: header.exportedAt, trusted: trustedHeads ? { heads: trustedHeads, hashesAt: trustedHashes } : null });
  opts.onProgress?.(entries, 1);
  return {
    ok: problem === null,
    chains: names.length,
    entries,
    checkpoints,
    exportedAt: header.exportedAt,
    problem,
    checkpoint: latest ? { seq: latest.seq, time: latest.time, digest: latest.digest, verified: latestSigned } : null,
    ...(problem === null && latest ? { trust: latest } : {}),
  };
}
