import { describe, expect, it } from 'vitest';
import { hasKubectl, kustomizations, render, skipReason } from './render';
import type { K8sObject } from './render';
import { modelFor, unknownFields, validateSchema } from './strict-schema';

// Custom resources have no schema in kubernetes-models; they get a narrower
// structural check of the fields we rely on.
function checkCustomResource(obj: K8sObject): string[] {
  const problems: string[] = [];
  const spec = (obj.spec ?? {}) as Record<string, unknown>;
  if (obj.kind === 'PrometheusRule') {
    if (obj.apiVersion !== 'monitoring.coreos.com/v1') problems.push('PrometheusRule apiVersion');
    const groups = spec.groups as { name?: unknown; rules?: Record<string, unknown>[] }[] | undefined;
    if (!Array.isArray(groups) || groups.length === 0) problems.push('PrometheusRule has no groups');
    for (const g of groups ?? []) {
      if (typeof g.name !== 'string') problems.push('group without name');
      for (const rule of g.rules ?? []) {
        const allowed = new Set(['alert', 'record', 'expr', 'for', 'labels', 'annotations', 'keep_firing_for']);
        for (const key of Object.keys(rule)) if (!allowed.has(key)) problems.push(`rule field ${key}`);
        if (typeof rule.expr !== 'string' || rule.expr.length === 0) problems.push(`rule ${String(rule.alert)} without expr`);
        if (typeof rule.alert !== 'string' && typeof rule.record !== 'string') problems.push('rule without alert/record');
      }
    }
  } else if (obj.kind === 'PodMonitor' || obj.kind === 'ServiceMonitor') {
    if (obj.apiVersion !== 'monitoring.coreos.com/v1') problems.push(`${obj.kind} apiVersion`);
    for (const key of Object.keys(spec)) if (!['selector', 'podMetricsEndpoints', 'endpoints', 'namespaceSelector', 'jobLabel'].includes(key)) problems.push(`spec.${key}`);
    const endpoints = (obj.kind === 'PodMonitor' ? spec.podMetricsEndpoints : spec.endpoints) as Record<string, unknown>[] | undefined;
    if (!Array.isArray(endpoints) || endpoints.length === 0) problems.push(`${obj.kind} without endpoints`);
    for (const e of endpoints ?? []) {
      for (const key of Object.keys(e)) if (!['port', 'path', 'interval', 'scheme', 'scrapeTimeout', 'relabelings'].includes(key)) problems.push(`endpoint field ${key}`);
      if (typeof e.port !== 'string') problems.push('endpoint without a named port');
    }
    if (typeof (spec.selector as { matchLabels?: unknown } | undefined)?.matchLabels !== 'object') problems.push(`${obj.kind} without selector.matchLabels`);
  } else if (obj.kind === 'ConstraintTemplate') {
    if (obj.apiVersion !== 'templates.gatekeeper.sh/v1') problems.push('ConstraintTemplate apiVersion');
    const names = (spec.crd as { spec?: { names?: { kind?: unknown } } } | undefined)?.spec?.names;
    if (typeof names?.kind !== 'string') problems.push('ConstraintTemplate without crd.spec.names.kind');
    const targets = spec.targets as { target?: unknown; code?: { engine?: unknown; source?: Record<string, unknown> }[] }[];
    if (!Array.isArray(targets) || targets[0]?.target !== 'admission.k8s.gatekeeper.sh') problems.push('target');
    const code = targets?.[0]?.code?.[0];
    if (code?.engine !== 'K8sNativeValidation') problems.push('engine is not K8sNativeValidation');
    const source = code?.source ?? {};
    for (const key of Object.keys(source)) if (!['variables', 'validations', 'matchConditions'].includes(key)) problems.push(`source.${key}`);
    if (!Array.isArray(source.validations) || source.validations.length === 0) problems.push('no validations');
  } else if (obj.apiVersion === 'constraints.gatekeeper.sh/v1beta1') {
    const match = spec.match as { kinds?: unknown[] } | undefined;
    if (!Array.isArray(match?.kinds) || match.kinds.length === 0) problems.push('constraint without match.kinds');
    if (spec.enforcementAction !== 'deny') problems.push('constraint not enforcing (deny)');
  } else {
    problems.push(`unexpected kind ${obj.apiVersion} ${obj.kind}`);
  }
  return problems;
}

describe.runIf(hasKubectl)(`every kustomization renders and validates${skipReason}`, () => {
  it.each(kustomizations)('%s renders with kubectl kustomize', (k) => {
    const objects = render(k);
    expect(objects.length).toBeGreaterThan(0);
    for (const obj of objects) {
      expect(typeof obj.kind, `${k}: object without kind`).toBe('string');
      expect(obj.metadata?.name, `${k}: ${obj.kind} without name`).toBeTruthy();
    }
  });

  it.each(kustomizations)('%s: every object passes the Kubernetes schema and has no unknown fields', (k) => {
    for (const obj of render(k)) {
      const where = `${k}: ${obj.kind}/${obj.metadata.name}`;
      if (modelFor(obj)) {
        expect(() => validateSchema(obj), where).not.toThrow();
        expect(unknownFields(obj), where).toEqual([]);
      } else {
        expect(checkCustomResource(obj), where).toEqual([]);
      }
    }
  });

  it('the strict check catches a misspelt field that plain validation lets through', () => {
    const sts = render('overlays/mainnet-active').find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'validator');
    expect(sts).toBeDefined();
    const typo = JSON.parse(JSON.stringify(sts)) as K8sObject;
    const spec = typo.spec as { template: { spec: { containers: Record<string, unknown>[] } } };
    const container = spec.template.spec.containers[0];
    if (!container) throw new Error('validator StatefulSet has no container');
    container.imagePullPolicyy = 'Always';
    (typo.metadata as Record<string, unknown>).lables = { a: 'b' };
    expect(() => validateSchema(typo)).not.toThrow();
    expect(unknownFields(typo)).toEqual(['/metadata/lables', '/spec/template/spec/containers/0/imagePullPolicyy']);
  });

  it('the structural check for custom resources rejects a misspelt rule field', () => {
    const rule = render('overlays/mainnet-active').find((o) => o.kind === 'PrometheusRule');
    expect(rule).toBeDefined();
    const bad = JSON.parse(JSON.stringify(rule)) as K8sObject;
    const groups = (bad.spec as { groups: { rules: Record<string, unknown>[] }[] }).groups;
    const first = groups[0]?.rules[0];
    if (!first) throw new Error('PrometheusRule without rules');
    first.exprr = first.expr;
    expect(checkCustomResource(bad)).toContain('rule field exprr');
  });
});
