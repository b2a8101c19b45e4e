// How the fleet bench counts renewals from the broker's answers. A list
// renewal is answered 200 even when some of its grants were refused, so the
// HTTP status alone would count a refused validator as renewed: each entry
// of `results` is counted on its own, and a validator counts only when its
// entry says `renewed` and carries a new grant.

/** Codes a broker may answer because it (or its store) is overloaded: the load's fault, not the fleet's. */
const loadCodes: ReadonlySet<string> = new Set(['state_store_unavailable', 'broker_unavailable']);

/** A refusal the load explains; anything else (stale_epoch, invalid_grant, ...) means the bench's fleet is wrong. */
export const isLoadRefusal = (code: string): boolean => loadCodes.has(code);

export interface RenewAnswer {
  /** Validators renewed by this answer. */
  readonly renewed: number;
  /** Refused validators (or whole requests), by error code; `transport` for an answer that is not the API's. */
  readonly refused: Readonly<Record<string, number>>;
  /** The new grants, in the order the request presented them; null where that grant was refused. */
  readonly grants: readonly (string | null)[];
}

const refusal = (code: string, count: number): RenewAnswer => ({ renewed: 0, refused: { [code]: count }, grants: Array<null>(count).fill(null) });

const codeOf = (x: unknown): string => {
  const c = (x as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : 'transport';
};

/**
 * One answer of POST /v1/grants/renew for a request that presented
 * `presented` grants (1 for the single body `{grant}`, n for `{grants}`).
 */
export function tallyRenewAnswer(status: number, body: string, presented: number, list: boolean): RenewAnswer {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return refusal('transport', presented);
  }
  if (status !== 200) return refusal(codeOf(json), presented);
  if (!list) {
    const grant = (json as { grant?: unknown } | null)?.grant;
    return typeof grant === 'string' ? { renewed: 1, refused: {}, grants: [grant] } : refusal('transport', 1);
  }
  const results = (json as { results?: unknown } | null)?.results;
  if (!Array.isArray(results) || results.length !== presented) return refusal('transport', presented);
  const refused: Record<string, number> = {};
  const grants = results.map((r: unknown) => {
    const e = r as { outcome?: unknown; grant?: unknown };
    if (e.outcome === 'renewed' && typeof e.grant === 'string') return e.grant;
    const code = e.outcome === 'refused' ? codeOf(e) : 'transport';
    refused[code] = (refused[code] ?? 0) + 1;
    return null;
  });
  return { renewed: grants.filter((g) => g !== null).length, refused, grants };
}

/** Running totals over many answers. */
export class RenewTotals {
  renewed = 0;
  requests = 0;
  readonly refused: Record<string, number> = {};

  add(a: RenewAnswer): void {
    this.requests += 1;
    this.renewed += a.renewed;
    for (const [code, n] of Object.entries(a.refused)) this.refused[code] = (this.refused[code] ?? 0) + n;
  }

  /** Requests that never got an answer (autocannon's errors and timeouts) count against the load. */
  addUnanswered(requests: number, presented: number): void {
    this.requests += requests;
    if (requests > 0) this.refused['unanswered'] = (this.refused['unanswered'] ?? 0) + requests * presented;
  }

  get refusedTotal(): number {
    return Object.values(this.refused).reduce((a, n) => a + n, 0);
  }

  /** Refusals the load does not explain, by code. */
  notFromLoad(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.refused).filter(([code]) => code !== 'unanswered' && !isLoadRefusal(code)));
  }
}
