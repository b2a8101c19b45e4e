// A write-once witness keeps a copy of every signed checkpoint outside the
// state store (S3 with Object Lock in compliance mode, or a GCS bucket with a
// locked retention policy). Someone who can write to the state store but not
// to the witness cannot make the ledger end earlier than the newest witnessed
// checkpoint, and cannot rewrite what it covers: an auditor verifies with that
// checkpoint as the trust anchor.
//
// The witness itself is read as hostile too. Write-once buckets still accept
// a new *version* of a key (S3) and a delete marker that hides the retained
// one, so what counts is the first version ever written under each key; any
// later version or marker is reported, never believed. A forged object (one
// that does not verify) can only make verification fail, never pass.
// Pure: the adapters list the objects, this decides what they say.

import { parseCheckpoint, type SignedCheckpoint } from './checkpoints';

/** One object version under the witness prefix, as listed (bodies are read later, newest first). */
export interface WitnessedObject {
  readonly key: string;
  /** The store's version id (S3 VersionId, GCS generation). */
  readonly version: string;
  /** Order of writing among versions of one key: larger is later. */
  readonly order: number;
  /** A delete marker, not a body. */
  readonly deleteMarker: boolean;
}

export type WitnessFinding =
  | { readonly kind: 'overwritten'; readonly key: string }
  | { readonly kind: 'deleted'; readonly key: string }
  | { readonly kind: 'malformed'; readonly key: string }
  | { readonly kind: 'misplaced'; readonly key: string; readonly seq: number }
  | { readonly kind: 'foreign'; readonly key: string };

/** The first version ever written under a checkpoint key: the one to believe. */
export interface WitnessCandidate {
  readonly key: string;
  readonly seq: number;
  readonly version: string;
}

export interface WitnessPlan {
  readonly findings: readonly WitnessFinding[];
  /** Newest seq first. */
  readonly candidates: readonly WitnessCandidate[];
}

const seqDigits = 12;

/** Object key of checkpoint `seq` under `prefix`: fixed width, so keys sort in seq order. */
export function witnessKey(prefix: string, seq: number): string {
  return `${prefix}checkpoint-${String(seq).padStart(seqDigits, '0')}.json`;
}

const keyPattern = /(?:^|\/)checkpoint-(\d{12})\.json$/;

/** The body written for a checkpoint: its JSON, one line. */
export const witnessBody = (c: SignedCheckpoint): string => `${JSON.stringify(c)}\n`;

/** What the listing alone says: findings, and which version of each key to read. */
export function planWitness(objects: readonly WitnessedObject[]): WitnessPlan {
  const byKey = new Map<string, WitnessedObject[]>();
  for (const o of objects) {
    const list = byKey.get(o.key);
    if (list) list.push(o);
    else byKey.set(o.key, [o]);
  }
  const findings: WitnessFinding[] = [];
  const candidates: WitnessCandidate[] = [];
  for (const key of [...byKey.keys()].sort()) {
    const m = keyPattern.exec(key);
    if (!m) {
      findings.push({ kind: 'foreign', key });
      continue;
    }
    const versions = byKey.get(key)!.sort((a, b) => a.order - b.order);
    const bodies = versions.filter((v) => !v.deleteMarker);
    if (bodies.length < versions.length) findings.push({ kind: 'deleted', key });
    if (bodies.length > 1) findings.push({ kind: 'overwritten', key });
    if (bodies[0]) candidates.push({ key, seq: Number(m[1]), version: bodies[0].version });
  }
  candidates.sort((a, b) => b.seq - a.seq);
  return { findings, candidates };
}

/** A candidate's body: the checkpoint it must hold, or what is wrong with it. */
export function acceptCandidate(c: WitnessCandidate, body: string): SignedCheckpoint | WitnessFinding {
  let parsed: SignedCheckpoint | null;
  try {
    parsed = parseCheckpoint(JSON.parse(body));
  } catch {
    parsed = null;
  }
  if (!parsed) return { kind: 'malformed', key: c.key };
  if (parsed.seq !== c.seq) return { kind: 'misplaced', key: c.key, seq: parsed.seq };
  return parsed;
}

export const isFinding = (x: SignedCheckpoint | WitnessFinding): x is WitnessFinding => 'kind' in x;

/** One line per finding, for people. */
export function describeFinding(f: WitnessFinding): string {
  switch (f.kind) {
    case 'overwritten':
      return `${f.key}: written more than once (only the first version is believed)`;
    case 'deleted':
      return `${f.key}: a delete marker hides it (the retained version is believed)`;
    case 'malformed':
      return `${f.key}: not a checkpoint`;
    case 'misplaced':
      return `${f.key}: holds checkpoint #${f.seq}, not the one its name says`;
    case 'foreign':
      return `${f.key}: not a name keyhold writes`;
  }
}
