// Issue 16: the minimum Kubernetes version the README states is the one the
// rendered manifests need: the newest feature they use decides it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasKubectl, k8sRoot, kustomizations, render, skipReason } from './render';
import type { K8sObject } from './render';

type Feature = { name: string; since: number; uses: (o: K8sObject) => boolean };
type PodSpec = { initContainers?: { restartPolicy?: string }[] };

const podSpecOf = (o: K8sObject): PodSpec | undefined => (o.spec as { template?: { spec?: PodSpec } } | undefined)?.template?.spec;

/** Minor version of 1.x in which each feature is available by default (GA, or beta enabled by default). */
const features: readonly Feature[] = [
  { name: 'native sidecar containers (beta, on by default)', since: 29, uses: (o) => (podSpecOf(o)?.initContainers ?? []).some((c) => c.restartPolicy === 'Always') },
  { name: 'ValidatingAdmissionPolicy v1 (GA)', since: 30, uses: (o) => o.apiVersion === 'admissionregistration.k8s.io/v1' && o.kind.startsWith('ValidatingAdmissionPolicy') },
  { name: 'ReadWriteOncePod (GA)', since: 29, uses: (o) => JSON.stringify((o.spec as { volumeClaimTemplates?: unknown } | undefined)?.volumeClaimTemplates ?? []).includes('ReadWriteOncePod') },
  { name: 'StatefulSet PVC retention policy (beta, on by default)', since: 27, uses: (o) => (o.spec as { persistentVolumeClaimRetentionPolicy?: unknown } | undefined)?.persistentVolumeClaimRetentionPolicy !== undefined },
];

const stated = (): number => {
  const readme = readFileSync(path.join(k8sRoot, '../../README.md'), 'utf8');
  const m = /\*\*Minimum versions\.\*\* Kubernetes 1\.(\d+)/.exec(readme);
  if (!m) throw new Error('README does not state the minimum Kubernetes version');
  return Number(m[1]);
};

describe.runIf(hasKubectl)(`minimum Kubernetes version${skipReason}`, () => {
  it('the README states exactly what the newest feature in use needs', () => {
    const used = new Map<string, number>();
    for (const k of kustomizations) for (const o of render(k)) for (const f of features) if (f.uses(o)) used.set(f.name, f.since);
    expect([...used.keys()].sort()).toEqual(features.map((f) => f.name).sort());
    expect(stated()).toBe(Math.max(...used.values()));
  });
});
