import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { needsDoppelganger, readDoppelgangerAdvice, writeDoppelgangerAdvice } from './doppelganger';

describe('needsDoppelganger', () => {
  it('skips detection only when every validator of the pod follows a proven stop', () => {
    expect(needsDoppelganger(['a', 'b'], [{ validator: 'a', predecessor: 'released' }, { validator: 'b', predecessor: 'acknowledged' }])).toBe(false);
  });

  it.each(['unproven', 'none', undefined] as const)('keeps detection when one predecessor is %s', (p) => {
    expect(needsDoppelganger(['a', 'b'], [{ validator: 'a', predecessor: 'released' }, { validator: 'b', ...(p ? { predecessor: p } : {}) }])).toBe(true);
  });

  it('keeps detection while a validator of the pod is not granted yet (its predecessor is unknown)', () => {
    expect(needsDoppelganger(['a', 'b'], [{ validator: 'a', predecessor: 'released' }])).toBe(true);
    expect(needsDoppelganger([], [])).toBe(true);
  });
});

describe('the doppelganger-protection file', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads back what fetch wrote, and anything but a clear false as true', async () => {
    dir = await mkdtemp(join(tmpdir(), 'keyhold-doppel-'));
    expect(await readDoppelgangerAdvice(dir)).toBe(true);
    await writeDoppelgangerAdvice(dir, false);
    expect(await readDoppelgangerAdvice(dir)).toBe(false);
    await rm(join(dir, 'doppelganger-protection'));
    await writeFile(join(dir, 'doppelganger-protection'), 'no\n');
    expect(await readDoppelgangerAdvice(dir)).toBe(true);
  });
});
