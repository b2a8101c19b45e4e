// The admission rules, evaluated with a CEL engine against objects that must
// be admitted and objects that must be refused, for both the
// ValidatingAdmissionPolicy and the Gatekeeper ConstraintTemplate.
import { describe, expect, it } from 'vitest';
import { admit } from './cel-policy';
import type { CelPolicy } from './cel-policy';
import { hasKubectl, isValidatorWorkload, render, siteOverlays, skipReason } from './render';
import type { K8sObject } from './render';

function vapPolicy(objects: K8sObject[], name: string): CelPolicy {
  const vap = objects.find((o) => o.kind === 'ValidatingAdmissionPolicy' && o.metadata.name === name);
  const spec = vap?.spec as CelPolicy | undefined;
  if (!spec) throw new Error(`no ValidatingAdmissionPolicy ${name}`);
  return { variables: spec.variables ?? [], validations: spec.validations };
}

function gatekeeperPolicy(objects: K8sObject[]): CelPolicy {
  const template = objects.find((o) => o.kind === 'ConstraintTemplate');
  const source = (template?.spec as { targets: { code: { engine: string; source: CelPolicy }[] }[] } | undefined)?.targets[0]?.code.find(
    (c) => c.engine === 'K8sNativeValidation',
  )?.source;
  if (!source) throw new Error('no K8sNativeValidation source in the ConstraintTemplate');
  return { variables: source.variables ?? [], validations: source.validations };
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

type Mutable = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe.runIf(hasKubectl)(`admission policies${skipReason}`, () => {
  const policyObjects = (): K8sObject[] => render('policies');
  const goodStatefulSet = (): Mutable => {
    const sts = render('overlays/mainnet-active').find((o) => o.kind === 'StatefulSet' && isValidatorWorkload(o));
    if (!sts) throw new Error('no validator StatefulSet rendered');
    return clone(sts) as Mutable;
  };
  const podOf = (sts: Mutable): Mutable => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${sts.metadata.name}-0`,
      labels: sts.spec.template.metadata.labels,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: sts.metadata.name, uid: 'u1', controller: true }],
    },
    spec: clone(sts.spec.template.spec),
  });
  const asKind = (sts: Mutable, kind: string, apiVersion = 'apps/v1'): Mutable => {
    const o = clone(sts);
    o.kind = kind;
    o.apiVersion = apiVersion;
    delete o.spec.volumeClaimTemplates;
    delete o.spec.serviceName;
    delete o.spec.podManagementPolicy;
    delete o.spec.updateStrategy;
    delete o.spec.persistentVolumeClaimRetentionPolicy;
    return o;
  };

  it('the Gatekeeper template carries exactly the ValidatingAdmissionPolicy CEL (one source of truth)', () => {
    const vap = vapPolicy(policyObjects(), 'keyhold-validator-singleton');
    const gk = gatekeeperPolicy(policyObjects());
    expect(gk.variables).toEqual(vap.variables);
    expect(gk.validations).toEqual(vap.validations);
    expect(vap.validations.length).toBeGreaterThanOrEqual(7);
  });

  it('the binding denies, and the Gatekeeper constraint matches the same kinds as the policy', () => {
    const objects = policyObjects();
    const binding = objects.find((o) => o.kind === 'ValidatingAdmissionPolicyBinding' && o.metadata.name === 'keyhold-validator-singleton');
    expect((binding?.spec as { validationActions: string[] }).validationActions).toContain('Deny');
    const vap = objects.find((o) => o.kind === 'ValidatingAdmissionPolicy' && o.metadata.name === 'keyhold-validator-singleton');
    expect((vap?.spec as { failurePolicy: string }).failurePolicy).toBe('Fail');
    const rules = (vap?.spec as { matchConstraints: { resourceRules: { resources: string[] }[] } }).matchConstraints.resourceRules;
    const resources = rules.flatMap((r) => r.resources).sort();
    const constraint = objects.find((o) => o.apiVersion === 'constraints.gatekeeper.sh/v1beta1');
    const kinds = (constraint?.spec as { match: { kinds: { kinds: string[] }[] } }).match.kinds.flatMap((k) => k.kinds);
    const asResource = (k: string): string => `${k.toLowerCase()}s`;
    expect(kinds.map(asResource).sort()).toEqual(resources);
  });

  describe.each([
    ['ValidatingAdmissionPolicy', (): CelPolicy => vapPolicy(render('policies'), 'keyhold-validator-singleton')],
    ['Gatekeeper ConstraintTemplate', (): CelPolicy => gatekeeperPolicy(render('policies'))],
  ] as const)('%s', (_name, policy) => {
    const refused = (obj: unknown): string[] => admit(policy(), obj).map((r) => r.message);

    it.each(siteOverlays)('admits every rendered validator workload of %s, and its pod', (overlay) => {
      const workloads = render(overlay).filter(isValidatorWorkload);
      expect(workloads.length).toBeGreaterThan(0);
      for (const w of workloads) {
        expect(admit(policy(), w)).toEqual([]);
        expect(admit(policy(), podOf(w as Mutable))).toEqual([]);
      }
    });

    it('admits non-validator workloads whatever their shape', () => {
      const deploy = asKind(goodStatefulSet(), 'Deployment');
      deploy.metadata.labels = { app: 'web' };
      deploy.spec.template.metadata.labels = { app: 'web' };
      deploy.spec.replicas = 5;
      deploy.spec.template.spec.initContainers = [];
      deploy.spec.template.spec.volumes = [];
      expect(refused(deploy)).toEqual([]);
      expect(refused(render('overlays/broker').find((o) => o.kind === 'Deployment'))).toEqual([]);
      expect(refused(render('overlays/mainnet-active').find((o) => o.metadata.name === 'node' && o.kind === 'StatefulSet'))).toEqual([]);
    });

    it('refuses a validator StatefulSet with more than one replica (0 and 1 are fine)', () => {
      for (const n of [0, 1]) {
        const sts = goodStatefulSet();
        sts.spec.replicas = n;
        expect(refused(sts)).toEqual([]);
      }
      const sts = goodStatefulSet();
      sts.spec.replicas = 2;
      expect(refused(sts)).toEqual([expect.stringContaining('at most one replica')]);
    });

    it.each([
      ['Deployment', 'apps/v1'],
      ['ReplicaSet', 'apps/v1'],
      ['DaemonSet', 'apps/v1'],
      ['ReplicationController', 'v1'],
      ['Job', 'batch/v1'],
    ])('refuses a validator %s outright, even with one replica and Recreate', (kind, apiVersion) => {
      const o = asKind(goodStatefulSet(), kind, apiVersion);
      if (kind === 'Deployment') o.spec.strategy = { type: 'Recreate' };
      expect(refused(o)).toEqual([expect.stringContaining('may only run as a StatefulSet')]);
    });

    it('refuses a Deployment that labels only its pods as validators, and a CronJob', () => {
      const o = asKind(goodStatefulSet(), 'Deployment');
      o.metadata.labels = { app: 'sneaky' };
      expect(refused(o)).toEqual([expect.stringContaining('may only run as a StatefulSet')]);
      const sts = goodStatefulSet();
      const cron = {
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: { name: 'sign' },
        spec: { schedule: '* * * * *', jobTemplate: { spec: { template: sts.spec.template } } },
      };
      expect(refused(cron)).toEqual([expect.stringContaining('may only run as a StatefulSet')]);
    });

    it('admits either podManagementPolicy: with one replica both are delete-then-create', () => {
      for (const policy of ['Parallel', 'OrderedReady']) {
        const sts = goodStatefulSet();
        sts.spec.podManagementPolicy = policy;
        expect(refused(sts)).toEqual([]);
      }
    });

    it('refuses a validator pod or StatefulSet without shareProcessNamespace: true (issue 12)', () => {
      for (const value of [false, undefined]) {
        const sts = goodStatefulSet();
        if (value === undefined) delete sts.spec.template.spec.shareProcessNamespace;
        else sts.spec.template.spec.shareProcessNamespace = value;
        expect(refused(sts)).toEqual([expect.stringContaining('shareProcessNamespace')]);
        expect(refused(podOf(sts))).toEqual([expect.stringContaining('shareProcessNamespace')]);
      }
    });

    it('refuses a keeper without the signer setting, and admits a pidfile instead of a process name (issue 12)', () => {
      const keeperOf = (sts: Mutable): Mutable => sts.spec.template.spec.initContainers.find((c: Mutable) => c.name === 'keyhold-keeper');
      const none = goodStatefulSet();
      keeperOf(none).env = keeperOf(none).env.filter((e: Mutable) => e.name !== 'KEYHOLD_SIGNER_PROCESS');
      expect(refused(none)).toEqual([expect.stringContaining('KEYHOLD_SIGNER_PROCESS')]);
      expect(refused(podOf(none))).toEqual([expect.stringContaining('KEYHOLD_SIGNER_PROCESS')]);
      const empty = goodStatefulSet();
      keeperOf(empty).env.find((e: Mutable) => e.name === 'KEYHOLD_SIGNER_PROCESS').value = '';
      expect(refused(empty)).toEqual([expect.stringContaining('KEYHOLD_SIGNER_PROCESS')]);
      const noEnv = goodStatefulSet();
      delete keeperOf(noEnv).env;
      expect(refused(noEnv)).toEqual([expect.stringContaining('KEYHOLD_SIGNER_PROCESS')]);
      const pidfile = clone(none);
      keeperOf(pidfile).env.push({ name: 'KEYHOLD_SIGNER_PIDFILE', value: '/keyhold/keys/signer.pid' });
      expect(refused(pidfile)).toEqual([]);
    });

    it('refuses a validator pod or StatefulSet without the keyhold-fetch init container', () => {
      const sts = goodStatefulSet();
      sts.spec.template.spec.initContainers = sts.spec.template.spec.initContainers.filter((c: Mutable) => c.name !== 'keyhold-fetch');
      expect(refused(sts)).toEqual([expect.stringContaining('keyhold-fetch')]);
      expect(refused(podOf(sts))).toEqual([expect.stringContaining('keyhold-fetch')]);
      const none = goodStatefulSet();
      delete none.spec.template.spec.initContainers;
      expect(refused(none)).toEqual([expect.stringContaining('keyhold-fetch'), expect.stringContaining('keyhold-keeper'), expect.stringContaining('KEYHOLD_SIGNER_PROCESS')]);
    });

    it('refuses keyhold-fetch turned into a sidecar (it would no longer block the signer)', () => {
      const sts = goodStatefulSet();
      const fetch = sts.spec.template.spec.initContainers.find((c: Mutable) => c.name === 'keyhold-fetch');
      fetch.restartPolicy = 'Always';
      expect(refused(sts)).toEqual([expect.stringContaining('keyhold-fetch')]);
    });

    it('refuses a keeper that is not a native sidecar', () => {
      const sts = goodStatefulSet();
      const keeper = sts.spec.template.spec.initContainers.find((c: Mutable) => c.name === 'keyhold-keeper');
      delete keeper.restartPolicy;
      expect(refused(sts)).toEqual([expect.stringContaining('keyhold-keeper')]);
    });

    it('refuses a key volume that is not memory-backed, or missing', () => {
      const disk = goodStatefulSet();
      const keys = disk.spec.template.spec.volumes.find((v: Mutable) => v.name === 'keyhold-keys');
      delete keys.emptyDir.medium;
      expect(refused(disk)).toEqual([expect.stringContaining('memory-backed')]);
      expect(refused(podOf(disk))).toEqual([expect.stringContaining('memory-backed')]);
      const host = goodStatefulSet();
      host.spec.template.spec.volumes = host.spec.template.spec.volumes.map((v: Mutable) =>
        v.name === 'keyhold-keys' ? { name: 'keyhold-keys', hostPath: { path: '/var/keys' } } : v,
      );
      expect(refused(host)).toEqual([expect.stringContaining('memory-backed')]);
      const missing = goodStatefulSet();
      missing.spec.template.spec.volumes = missing.spec.template.spec.volumes.filter((v: Mutable) => v.name !== 'keyhold-keys');
      expect(refused(missing)).toEqual([expect.stringContaining('memory-backed')]);
    });

    it('refuses a bare validator pod that no StatefulSet controls', () => {
      const pod = podOf(goodStatefulSet());
      delete pod.metadata.ownerReferences;
      expect(refused(pod)).toEqual([expect.stringContaining('created by its StatefulSet')]);
      pod.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'x', uid: 'u', controller: true }];
      expect(refused(pod)).toEqual([expect.stringContaining('created by its StatefulSet')]);
    });
  });

  describe('exec, attach and ephemeral containers on validator pods', () => {
    const policy = (): CelPolicy => vapPolicy(policyObjects(), 'keyhold-validator-no-exec');
    const user = (...groups: string[]) => ({ userInfo: { username: 'alice', groups: ['system:authenticated', ...groups] } });
    const exec = { apiVersion: 'v1', kind: 'PodExecOptions', stdin: true, tty: true, container: 'validator', command: ['sh'] };
    const attach = { apiVersion: 'v1', kind: 'PodAttachOptions', stdin: true, container: 'validator' };
    const debugged = (): Mutable => {
      const pod = podOf(goodStatefulSet());
      pod.spec.ephemeralContainers = [{ name: 'debugger', image: 'busybox', targetContainerName: 'validator' }];
      return pod;
    };

    it('matches CONNECT on pods/exec and pods/attach and UPDATE on pods/ephemeralcontainers, in validator namespaces, failing closed', () => {
      const vap = policyObjects().find((o) => o.kind === 'ValidatingAdmissionPolicy' && o.metadata.name === 'keyhold-validator-no-exec');
      const spec = vap?.spec as { failurePolicy: string; matchConstraints: { namespaceSelector: unknown; resourceRules: { operations: string[]; resources: string[] }[] } };
      expect(spec.failurePolicy).toBe('Fail');
      expect(spec.matchConstraints.namespaceSelector).toEqual({ matchLabels: { 'keyhold.io/validators': 'true' } });
      const matched = spec.matchConstraints.resourceRules.flatMap((r) => r.resources.flatMap((res) => r.operations.map((op) => `${op} ${res}`))).sort();
      expect(matched).toEqual(['CONNECT pods/attach', 'CONNECT pods/exec', 'UPDATE pods/ephemeralcontainers']);
      const binding = policyObjects().find((o) => o.kind === 'ValidatingAdmissionPolicyBinding' && o.metadata.name === 'keyhold-validator-no-exec');
      expect((binding?.spec as { validationActions: string[] }).validationActions).toEqual(['Deny', 'Audit']);
      // The site namespaces carry the label the policy selects on.
      for (const overlay of siteOverlays) {
        expect(render(overlay).find((o) => o.kind === 'Namespace')?.metadata.labels?.['keyhold.io/validators']).toBe('true');
      }
    });

    it.each([
      ['exec', exec],
      ['attach', attach],
      ['an ephemeral container', null],
    ])('refuses %s to anyone outside the break-glass group, cluster admins included', (_what, obj) => {
      const o = obj ?? debugged();
      for (const who of [user(), user('system:masters'), user('keyhold:site-operators'), { userInfo: { username: 'system:serviceaccount:x:y' } }]) {
        expect(admit(policy(), o, who).map((r) => r.message)).toEqual([expect.stringContaining('break-glass')]);
      }
      expect(admit(policy(), o, user('keyhold:break-glass'))).toEqual([]);
    });
  });

  it('the scale-subresource policy refuses scaling above one in a validator namespace', () => {
    const policy = vapPolicy(policyObjects(), 'keyhold-validator-scale');
    const scale = (replicas: number): unknown => ({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'validator' }, spec: { replicas } });
    expect(admit(policy, scale(1))).toEqual([]);
    expect(admit(policy, scale(0))).toEqual([]);
    expect(admit(policy, scale(2))).toHaveLength(1);
    const vap = policyObjects().find((o) => o.metadata.name === 'keyhold-validator-scale' && o.kind === 'ValidatingAdmissionPolicy');
    expect(JSON.stringify(vap?.spec)).toContain('statefulsets/scale');
  });
});
