import { describe, expect, it } from 'vitest';
import { CliError, exitCodes } from './client';
import { waitForHandoff, type HandoffView } from './promote-wait';

const t0 = Date.UTC(2026, 10, 22, 12, 0, 0);
const iso = (t: number) => new Date(t).toISOString();
const view = (epoch: number, state: string, notBefore: number, extra: Partial<HandoffView> = {}): HandoffView => ({
  designation: { epoch, slot: 'eu1/validators/b-0', podUid: state === 'held' ? 'pod-b' : null, state, notBefore: iso(notBefore) },
  predecessor: 'unproven',
  pendingPromotion: null,
  ...extra,
});

/** Answers the views in turn (the last one for ever), on a clock that the sleeps advance. */
function scripted(views: HandoffView[]) {
  let now = t0;
  let i = 0;
  const lines: string[] = [];
  return {
    lines,
    opts: {
      read: async () => views[Math.min(i++, views.length - 1)]!,
      note: (l: string) => lines.push(l),
      now: () => now,
      sleep: async (ms: number) => {
        now += ms;
      },
      intervalMs: 1000,
      target: 'eu1/validators/b-0',
    },
  };
}

describe('promote --wait', () => {
  it('counts down to notBefore, sees the old holder acknowledge, and ends when the new holder holds', async () => {
    const s = scripted([view(2, 'vacant', t0 + 30_000), view(2, 'vacant', t0 + 30_000), view(2, 'vacant', t0 + 2000), view(2, 'held', t0 + 2000)]);
    const v = await waitForHandoff({ ...s.opts, epoch: 2, fromEpoch: 2, promotedNotBefore: iso(t0 + 30_000), timeoutMs: 60_000 });
    expect(v.designation.state).toBe('held');
    expect(s.lines).toEqual([
      `old holder has not acknowledged; notBefore in 30s (${iso(t0 + 30_000)})`,
      'old holder acknowledged its stop; waiting for the new holder in eu1/validators/b-0 to fetch its key',
      'new holder has its key: pod pod-b in eu1/validators/b-0, epoch 2',
    ]);
  });

  it('times out with its own exit code, saying where the handoff stood', async () => {
    const s = scripted([view(2, 'vacant', t0 + 600_000)]);
    const err = await waitForHandoff({ ...s.opts, epoch: 2, fromEpoch: 2, promotedNotBefore: null, timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(exitCodes.timeout);
    expect(exitCodes.timeout).not.toBe(exitCodes.refused);
    expect((err as CliError).message).toMatch(/^timed out: old holder has not acknowledged; notBefore in \d+s/);
  });

  it('follows a proposal to its second approval, and refuses when it is voided or the epoch moves on', async () => {
    const proposed = view(1, 'held', t0, { pendingPromotion: { slot: 'eu1/validators/b-0', fromEpoch: 1, expiresAt: iso(t0 + 900_000) } });
    const ok = scripted([proposed, view(2, 'vacant', t0), view(2, 'held', t0)]);
    expect((await waitForHandoff({ ...ok.opts, epoch: null, fromEpoch: 1, promotedNotBefore: null, timeoutMs: 60_000 })).designation.epoch).toBe(2);
    expect(ok.lines[0]).toMatch(/^waiting for a second, different operator/);
    const voided = scripted([proposed, view(1, 'held', t0)]);
    await expect(waitForHandoff({ ...voided.opts, epoch: null, fromEpoch: 1, promotedNotBefore: null, timeoutMs: 60_000 })).rejects.toMatchObject({ exitCode: exitCodes.refused });
    const movedOn = scripted([view(2, 'vacant', t0), view(3, 'vacant', t0)]);
    await expect(waitForHandoff({ ...movedOn.opts, epoch: 2, fromEpoch: 2, promotedNotBefore: null, timeoutMs: 60_000 })).rejects.toMatchObject({ exitCode: exitCodes.refused });
  });
});
