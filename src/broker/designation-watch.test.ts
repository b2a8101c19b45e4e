// The watch wakes a waiter on a newer version only, shares one re-read per
// validator among its waiters, and stops reading when nobody waits.

import { describe, expect, it } from 'vitest';
import { DesignationWatch } from './designation-watch';

function harness(pollMs = 20, maxWaiters = 10) {
  const versions = new Map<string, number>();
  const reads: string[] = [];
  const store = new Map<string, number>();
  // eslint-disable-next-line prefer-const
  let watch: DesignationWatch;
  const source = {
    latest: (v: string) => versions.get(v) ?? null,
    reread: async (v: string) => {
      reads.push(v);
      const at = store.get(v);
      if (at !== undefined && at > (versions.get(v) ?? -1)) {
        versions.set(v, at);
        watch.saw(v, at);
      }
    },
  };
  watch = new DesignationWatch(source, { pollMs, maxWaiters });
  return { watch, versions, reads, store };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('DesignationWatch', () => {
  it('wakes on a newer version seen here, and not on the same or an older one', async () => {
    const { watch } = harness(10_000);
    const w = watch.changed('v1', 5, 2_000);
    watch.saw('v1', 5);
    watch.saw('v1', 4);
    watch.saw('v2', 9);
    expect(watch.waiting).toBe(1);
    watch.saw('v1', 6);
    await expect(w).resolves.toBe(true);
    expect(watch.waiting).toBe(0);
  });

  it('answers at once when a newer version is already known (a change between the read and the wait)', async () => {
    const { watch, versions } = harness(10_000);
    versions.set('v1', 7);
    await expect(watch.changed('v1', 6, 2_000)).resolves.toBe(true);
    expect(watch.waiting).toBe(0);
  });

  it('ends with false after its time, and does not hold beyond maxWaiters', async () => {
    const { watch } = harness(10_000, 1);
    const t0 = performance.now();
    const first = watch.changed('v1', 1, 80);
    await expect(watch.changed('v2', 1, 5_000)).resolves.toBe(false);
    await expect(first).resolves.toBe(false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(70);
    expect(watch.waiting).toBe(0);
  });

  it('reads each waited validator once per tick for all its waiters, wakes them on a change from elsewhere, then stops reading', async () => {
    const { watch, reads, store } = harness(20);
    store.set('v1', 1);
    const waiters = [watch.changed('v1', 1, 3_000), watch.changed('v1', 1, 3_000), watch.changed('v1', 1, 3_000), watch.changed('v2', 0, 3_000)];
    while (reads.length < 6) await sleep(10);
    // One read per tick for v1's three waiters, as for v2's one: not one per waiter.
    expect(reads.filter((v) => v === 'v1').length).toBe(reads.filter((v) => v === 'v2').length);
    store.set('v1', 2);
    store.set('v2', 1);
    await expect(Promise.all(waiters)).resolves.toEqual([true, true, true, true]);
    const after = reads.length;
    await sleep(80);
    expect(reads.length).toBe(after);
  });
});
