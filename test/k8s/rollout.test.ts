// Issue 16: a template change must reach every pod of every StatefulSet in
// the stack, including a standby that waits in keyhold-fetch (Pending, never
// Ready) and an active pod that is not holding (Running, not Ready), and
// still by delete-then-create.
import { describe, expect, it } from 'vitest';
import { hasKubectl, render, siteOverlays, skipReason } from './render';
import { rollout, type PodBehaviour, type PodManagementPolicy } from './statefulset-rollout';

const states: readonly [string, PodBehaviour][] = [
  ['holding (Running, Ready)', { phase: 'Running', ready: true }],
  ['not holding (Running, not Ready)', { phase: 'Running', ready: false }],
  ['standby waiting in keyhold-fetch (Pending)', { phase: 'Pending', ready: false }],
];

describe('the StatefulSet controller model', () => {
  it('wedges OrderedReady on a pod that is not Running and Ready (the documented behaviour)', () => {
    expect(rollout('OrderedReady', 1, { phase: 'Running', ready: true }).reached).toBe(true);
    expect(rollout('OrderedReady', 1, { phase: 'Pending', ready: false })).toEqual({ reached: false, trace: [] });
    expect(rollout('OrderedReady', 1, { phase: 'Running', ready: false }).reached).toBe(false);
  });

  it('under Parallel, replaces a pod whatever its readiness, deleting before creating', () => {
    for (const [, b] of states) expect(rollout('Parallel', 1, b)).toEqual({ reached: true, trace: ['delete 0', 'create 0'] });
  });

  it('under Parallel with several replicas, still one ordinal at a time, highest first', () => {
    expect(rollout('Parallel', 2, { phase: 'Running', ready: true }).trace).toEqual(['delete 1', 'create 1', 'delete 0', 'create 0']);
  });
});

describe.runIf(hasKubectl)(`template changes reach every pod of every site overlay${skipReason}`, () => {
  describe.each(siteOverlays)('%s', (overlay) => {
    const statefulSets = () => render(overlay).filter((o) => o.kind === 'StatefulSet');

    it.each(states)('a pod that is %s gets the new template', (_name, behaviour) => {
      expect(statefulSets().length).toBeGreaterThan(0);
      for (const sts of statefulSets()) {
        const spec = sts.spec as { replicas?: number; podManagementPolicy?: PodManagementPolicy; updateStrategy?: { type?: string } };
        expect(spec.updateStrategy?.type, sts.metadata.name).toBe('RollingUpdate');
        const result = rollout(spec.podManagementPolicy ?? 'OrderedReady', spec.replicas ?? 1, behaviour);
        expect(result, sts.metadata.name).toEqual({ reached: true, trace: ['delete 0', 'create 0'] });
      }
    });
  });
});
