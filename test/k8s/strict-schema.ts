// Schema validation with kubernetes-models, made strict.
//
// kubernetes-models validates types and required fields but, like the
// OpenAPI schemas it is generated from, lets unknown fields through: a typo
// such as `imagePullPolicyy` would pass, and the API server would then drop
// it silently. Its validators are compiled JSON-schema code that reads every
// property the schema knows (`data.image`, `data.imagePullPolicy`, ...) and
// iterates the keys of free-form maps. So we hand the validator a proxy that
// records each key it reads: any key of a validated object that the validator
// never looked at is a field the schema does not have.
import type { K8sObject } from './render';
import { Namespace, ServiceAccount, ConfigMap, Service } from 'kubernetes-models/v1';
import { StatefulSet, Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import {
  ValidatingAdmissionPolicy,
  ValidatingAdmissionPolicyBinding,
} from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';

type ModelClass = new (data: never) => { validate(): void; toJSON(): unknown };

const models: Record<string, ModelClass> = {
  'v1/Namespace': Namespace as unknown as ModelClass,
  'v1/ServiceAccount': ServiceAccount as unknown as ModelClass,
  'v1/ConfigMap': ConfigMap as unknown as ModelClass,
  'v1/Service': Service as unknown as ModelClass,
  'apps/v1/StatefulSet': StatefulSet as unknown as ModelClass,
  'apps/v1/Deployment': Deployment as unknown as ModelClass,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as unknown as ModelClass,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy as unknown as ModelClass,
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': ValidatingAdmissionPolicy as unknown as ModelClass,
  'rbac.authorization.k8s.io/v1/Role': Role as unknown as ModelClass,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding as unknown as ModelClass,
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding':
    ValidatingAdmissionPolicyBinding as unknown as ModelClass,
};

export function modelFor(obj: K8sObject): ModelClass | undefined {
  return models[`${obj.apiVersion}/${obj.kind}`];
}

/** Returns JSON-pointer paths of fields the Kubernetes schema does not define. */
export function unknownFields(obj: K8sObject): string[] {
  const Model = modelFor(obj);
  if (!Model) throw new Error(`no kubernetes-models schema for ${obj.apiVersion} ${obj.kind}`);
  const reads = new Map<object, Set<string>>();
  const paths = new Map<object, string>();
  const proxies = new WeakMap<object, object>();
  const wrap = (value: unknown, at: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const known = proxies.get(value);
    if (known) return known;
    reads.set(value, new Set());
    paths.set(value, at);
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        const child = Reflect.get(target, key, receiver) as unknown;
        if (typeof key !== 'string') return child;
        reads.get(target)?.add(key);
        return Object.prototype.hasOwnProperty.call(target, key) ? wrap(child, `${at}/${key}`) : child;
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };
  const data = JSON.parse(JSON.stringify(obj)) as object;
  const validate = Model.prototype.validate as (this: unknown) => void;
  validate.call(wrap(data, ''));
  const unknown: string[] = [];
  for (const [node, seen] of reads) {
    if (Array.isArray(node)) continue;
    for (const key of Object.keys(node)) {
      if (!seen.has(key)) unknown.push(`${paths.get(node) ?? ''}/${key}`);
    }
  }
  return unknown.sort();
}

/** kubernetes-models' own validation (types, required fields, enums). */
export function validateSchema(obj: K8sObject): void {
  const Model = modelFor(obj);
  if (!Model) throw new Error(`no kubernetes-models schema for ${obj.apiVersion} ${obj.kind}`);
  new Model(obj as never).validate();
}
