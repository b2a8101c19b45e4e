// Identifiers that reach store keys, URLs and ledger rows. They are checked
// once at the edge so nothing downstream has to think about path characters.

export const validatorIdPattern = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;

// Kubernetes DNS-1123 label for the cluster name and namespace, DNS-1123
// subdomain for the pod name (StatefulSet pods are labels in practice).
const label = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
const subdomain = '[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?';
export const slotPattern = new RegExp(`^${label}/${label}/${subdomain}$`);

/** A Kubernetes service account name (DNS-1123 subdomain). */
export const isServiceAccountName = (s: string): boolean => s.length <= 253 && new RegExp(`^${subdomain}$`).test(s);

export const isValidatorId = (s: string): boolean => validatorIdPattern.test(s) && !s.includes('..');
export const isSlot = (s: string): boolean => s.length <= 381 && slotPattern.test(s);

export const slotOf = (cluster: string, namespace: string, podName: string): string =>
  `${cluster}/${namespace}/${podName}`;

/** The chain for decisions about no known validator. Not a valid validator id, so it cannot collide. */
export const brokerChain = '_broker';
