// Renders the kustomizations under infra/k8s with the real kubectl, so the
// tests judge exactly what `kubectl apply -k` would send.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
};

export const k8sRoot = fileURLToPath(new URL('../../infra/k8s/', import.meta.url));

/** Every overlay, plus the cluster-wide policies, which render on their own. */
export const kustomizations: readonly string[] = [
  ...readdirSync(path.join(k8sRoot, 'overlays'))
    .sort()
    .map((name) => `overlays/${name}`),
  'policies',
];

export const siteOverlays = kustomizations.filter((k) => /^overlays\/(mainnet|hoodi)-(active|standby)$/.test(k));

function kubectlAvailable(): boolean {
  const probe = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  return probe.status === 0;
}

export const hasKubectl = kubectlAvailable();

if (!hasKubectl && process.env.CI) {
  // In CI a missing kubectl must fail loudly, never turn into skipped tests.
  throw new Error('kubectl is required in CI to render infra/k8s (kubectl kustomize); install kubectl >= 1.32');
}

/** Test-name suffix that says why a suite is skipped. */
export const skipReason = hasKubectl ? '' : ' (SKIPPED: kubectl not installed, cannot run kubectl kustomize)';

const cache = new Map<string, K8sObject[]>();

export function render(kustomization: string): K8sObject[] {
  const hit = cache.get(kustomization);
  if (hit) return hit;
  const result = spawnSync('kubectl', ['kustomize', path.join(k8sRoot, kustomization)], {
    encoding: 'utf8',
    maxBuffer: 32 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(`kubectl kustomize ${kustomization} failed: ${result.stderr || result.error?.message}`);
  }
  const objects = parseAllDocuments(result.stdout).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${kustomization}: invalid YAML: ${doc.errors[0]?.message}`);
    return doc.toJS() as K8sObject;
  });
  cache.set(kustomization, objects);
  return objects;
}

export function isValidatorWorkload(obj: K8sObject): boolean {
  const template = (obj.spec?.template ?? {}) as { metadata?: { labels?: Record<string, string> } };
  return obj.metadata.labels?.['keyhold.io/role'] === 'validator' || template.metadata?.labels?.['keyhold.io/role'] === 'validator';
}
