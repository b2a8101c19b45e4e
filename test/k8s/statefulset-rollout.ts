// A model of one StatefulSet controller sync, after
// kubernetes/pkg/controller/statefulset/stateful_set_control.go (v1.29-1.32,
// updateStatefulSet and processReplica), reduced to what decides whether a
// template change reaches a pod:
// - every ordinal below `replicas` is processed in order; a missing pod is
//   created at the update revision (RollingUpdate, partition 0);
// - with OrderedReady ("monotonic") the sync stops at the first pod that is
//   terminating, or not Running and Ready: nothing after that point runs,
//   including the rolling update. With Parallel it does not stop there;
// - the rolling update deletes the highest ordinal whose revision is not the
//   update revision and is not already terminating, then waits for it.
// A pod object is unique by name, so a replacement is created only once the
// old object is gone from the API server, under either policy.

export type PodManagementPolicy = 'OrderedReady' | 'Parallel';

export interface ModelPod {
  readonly ordinal: number;
  readonly revision: string;
  /** Running: every init container finished; a pod held in an init container is Pending. */
  readonly phase: 'Pending' | 'Running';
  readonly ready: boolean;
  readonly terminating: boolean;
}

export type Action = { kind: 'create'; ordinal: number } | { kind: 'delete'; ordinal: number } | { kind: 'wait' };

export function syncOnce(policy: PodManagementPolicy, replicas: number, updateRevision: string, pods: ReadonlyMap<number, ModelPod>): Action[] {
  const monotonic = policy === 'OrderedReady';
  const actions: Action[] = [];
  for (let i = 0; i < replicas; i++) {
    const pod = pods.get(i);
    if (pod === undefined) {
      actions.push({ kind: 'create', ordinal: i });
      if (monotonic) return actions;
      continue;
    }
    if (pod.terminating && monotonic) return [...actions, { kind: 'wait' }];
    if (!(pod.phase === 'Running' && pod.ready) && monotonic) return [...actions, { kind: 'wait' }];
  }
  if (actions.length > 0) return actions;
  for (let target = replicas - 1; target >= 0; target--) {
    const pod = pods.get(target);
    if (pod === undefined) continue;
    if (pod.revision !== updateRevision && !pod.terminating) return [{ kind: 'delete', ordinal: target }];
    if (!(pod.phase === 'Running' && pod.ready) || pod.terminating) return [{ kind: 'wait' }];
  }
  return [];
}

/** How a freshly created pod behaves: a standby stays in keyhold-fetch, an active pod may or may not hold. */
export type PodBehaviour = Pick<ModelPod, 'phase' | 'ready'>;

export interface RolloutResult {
  readonly reached: boolean;
  /** Every create and delete, in order. */
  readonly trace: readonly string[];
}

/**
 * Starts with every ordinal at the old revision in the given state, changes
 * the template, and runs syncs; a deleted pod is gone at the next sync
 * (graceful termination finished).
 */
export function rollout(policy: PodManagementPolicy, replicas: number, behaviour: PodBehaviour, maxSteps = 20): RolloutResult {
  const pods = new Map<number, ModelPod>();
  for (let i = 0; i < replicas; i++) pods.set(i, { ordinal: i, revision: 'old', terminating: false, ...behaviour });
  const trace: string[] = [];
  for (let step = 1; step <= maxSteps; step++) {
    for (const [i, p] of [...pods]) if (p.terminating) pods.delete(i);
    for (const a of syncOnce(policy, replicas, 'new', pods)) {
      if (a.kind === 'wait') continue;
      trace.push(`${a.kind} ${a.ordinal}`);
      const p = pods.get(a.ordinal);
      if (a.kind === 'create') pods.set(a.ordinal, { ordinal: a.ordinal, revision: 'new', terminating: false, ...behaviour });
      else if (p) pods.set(a.ordinal, { ...p, terminating: true });
    }
    if (pods.size === replicas && [...pods.values()].every((p) => p.revision === 'new' && !p.terminating)) return { reached: true, trace };
  }
  return { reached: false, trace };
}
