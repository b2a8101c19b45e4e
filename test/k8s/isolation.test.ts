// Issue 16: isolation options. Active and standby validator pods never share
// a node (and prefer different zones); a runtimeClassName component puts the
// validator in a microVM; a dedicated-nodes component puts the stack on
// tainted nodes of its own. The admission policy still admits the result.
import { describe, expect, it } from 'vitest';
import { admit } from './cel-policy';
import type { CelPolicy } from './cel-policy';
import { hasKubectl, isValidatorWorkload, render, siteOverlays, skipReason } from './render';
import type { K8sObject } from './render';

type Term = { topologyKey: string; namespaceSelector?: Record<string, unknown>; labelSelector: { matchLabels: Record<string, string> } };
type PodTemplate = {
  metadata: { labels: Record<string, string> };
  spec: {
    runtimeClassName?: string;
    tolerations?: { key: string; operator?: string; value?: string; effect?: string }[];
    affinity?: {
      podAntiAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: Term[]; preferredDuringSchedulingIgnoredDuringExecution?: { podAffinityTerm: Term }[] };
      nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: { matchExpressions: { key: string; operator: string; values: string[] }[] }[] } };
    };
  };
};

const template = (o: K8sObject) => (o.spec as { template: PodTemplate }).template;
const validator = (overlay: string): K8sObject => {
  const v = render(overlay).find((o) => o.kind === 'StatefulSet' && isValidatorWorkload(o));
  if (!v) throw new Error(`${overlay}: no validator`);
  return v;
};
const selects = (sel: Record<string, string>, labels: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);

describe.runIf(hasKubectl)(`isolation${skipReason}`, () => {
  it.each(siteOverlays)('%s: its validator pod never lands on a node with the other site\'s validator pod', (overlay) => {
    const site = overlay.endsWith('active') ? 'active' : 'standby';
    const other = overlay.replace(/(active|standby)$/, site === 'active' ? 'standby' : 'active');
    const mine = template(validator(overlay));
    const theirs = template(validator(other));
    expect(mine.metadata.labels['keyhold.io/site']).toBe(site);
    const required = mine.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    const byHost = required.filter((t) => t.topologyKey === 'kubernetes.io/hostname');
    expect(byHost).toHaveLength(1);
    expect(byHost[0]?.namespaceSelector).toEqual({});
    expect(selects(byHost[0]!.labelSelector.matchLabels, theirs.metadata.labels)).toBe(true);
    expect(selects(byHost[0]!.labelSelector.matchLabels, mine.metadata.labels), 'must not repel itself').toBe(false);
    const zones = (mine.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((p) => p.podAffinityTerm);
    expect(zones.some((t) => t.topologyKey === 'topology.kubernetes.io/zone' && selects(t.labelSelector.matchLabels, theirs.metadata.labels))).toBe(true);
  });

  describe('the isolated overlay (runtime-class and dedicated-nodes components)', () => {
    const objects = () => render('overlays/mainnet-active-isolated');

    it('runs the validator pod under a microVM runtime class, and only the validator', () => {
      expect(template(validator('overlays/mainnet-active-isolated')).spec.runtimeClassName).toBe('kata-fc');
      for (const sts of objects().filter((o) => o.kind === 'StatefulSet' && !isValidatorWorkload(o))) expect(template(sts).spec.runtimeClassName).toBeUndefined();
      expect(template(validator('overlays/mainnet-active')).spec.runtimeClassName).toBeUndefined();
    });

    it('puts every StatefulSet on the dedicated nodes: tolerates their taint and requires their label, keeping the anti-affinity', () => {
      const sets = objects().filter((o) => o.kind === 'StatefulSet');
      expect(sets.map((s) => s.metadata.name).sort()).toEqual(['node', 'validator']);
      for (const sts of sets) {
        const spec = template(sts).spec;
        expect(spec.tolerations).toEqual([{ key: 'keyhold.io/dedicated', operator: 'Equal', value: 'validators', effect: 'NoSchedule' }]);
        expect(spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).toEqual([
          { matchExpressions: [{ key: 'keyhold.io/dedicated', operator: 'In', values: ['validators'] }] },
        ]);
      }
      expect(template(validator('overlays/mainnet-active-isolated')).spec.affinity?.podAntiAffinity).toEqual(template(validator('overlays/mainnet-active')).spec.affinity?.podAntiAffinity);
    });

    it('is admitted by the validator admission policy', () => {
      const vap = render('policies').find((o) => o.kind === 'ValidatingAdmissionPolicy' && o.metadata.name === 'keyhold-validator-singleton');
      const spec = vap?.spec as CelPolicy;
      expect(admit({ variables: spec.variables ?? [], validations: spec.validations }, validator('overlays/mainnet-active-isolated'))).toEqual([]);
    });
  });
});
