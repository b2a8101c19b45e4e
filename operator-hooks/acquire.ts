// Ask the broker for a grant until it gives one or says something that
// waiting cannot change. Used by fetch (init container) and by the keeper
// when it recovers after losing its grant. Time, sleep and randomness come in,
// so the waiting is tested without waiting.

import type { BrokerClient, Failure, Predecessor } from './broker-client';
import type { Clock, Sleep } from './clock';
import { ephemeralKeyPair, grantClaims, type EphemeralKeyPair, type GrantClaimsView } from './ephemeral-key';
import { seconds, type Log } from './log';
import { nextStep, type WaitSettings } from './retry';

export interface AcquireDeps {
  readonly client: BrokerClient;
  readonly clock: Clock;
  readonly sleep: Sleep;
  readonly random: () => number;
  readonly log: Log;
  readonly settings: WaitSettings;
  readonly signal?: AbortSignal;
  readonly keyPair?: EphemeralKeyPair;
}

export type Acquired =
  | {
      readonly kind: 'granted';
      readonly token: string;
      readonly claims: GrantClaimsView;
      /** Both clocks read just before the successful request was sent. */
      readonly sent: { readonly wall: number; readonly mono: number };
      readonly jwe: string;
      readonly keyPair: EphemeralKeyPair;
      /** How the holder before ended; a broker that does not say is taken as `unproven`. */
      readonly predecessor: Predecessor;
    }
  | { readonly kind: 'gave_up'; readonly reason: string; readonly failure: Failure }
  | { readonly kind: 'aborted' };

const predecessors: readonly Predecessor[] = ['none', 'released', 'acknowledged', 'unproven'];
export const predecessorOf = (v: unknown): Predecessor => (predecessors.includes(v as Predecessor) ? (v as Predecessor) : 'unproven');

/** Same reason again within this long: counted, not logged. */
const quietMs = 60_000;

export async function acquireGrant(d: AcquireDeps): Promise<Acquired> {
  const keyPair = d.keyPair ?? (await ephemeralKeyPair());
  let lastWhy = '';
  let lastLoggedAt = -Infinity;
  let repeats = 0;
  for (let attempt = 0; ; attempt++) {
    if (d.signal?.aborted) return { kind: 'aborted' };
    const sent = { wall: d.clock.wall(), mono: d.clock.mono() };
    const answer = await d.client.fetchGrant(keyPair.publicJwk, { ...(d.signal ? { signal: d.signal } : {}), ...(d.settings.fetchWaitMs ? { waitMs: d.settings.fetchWaitMs } : {}) });
    if (answer.ok) {
      if (repeats > 0) d.log(`(${lastWhy}: ${repeats} more time(s))`);
      return { kind: 'granted', token: answer.body.grant, claims: grantClaims(answer.body.grant), sent, jwe: answer.body.key, keyPair, predecessor: predecessorOf(answer.body.predecessor) };
    }
    if (d.signal?.aborted) return { kind: 'aborted' };
    const step = nextStep(answer, attempt, d.settings, d.random);
    if (step.kind === 'give_up') return { kind: 'gave_up', reason: step.reason, failure: answer };
    const now = d.clock.mono();
    if (step.why !== lastWhy || now - lastLoggedAt >= quietMs) {
      d.log(`waiting ${seconds(step.ms)}: ${step.why}${repeats > 0 ? ` (same answer ${repeats} more time(s) before)` : ''}`);
      lastWhy = step.why;
      lastLoggedAt = now;
      repeats = 0;
    } else {
      repeats++;
    }
    await d.sleep(step.ms, d.signal);
  }
}
