// Kubernetes projected service-account tokens. Namespace, pod name and pod
// UID come from the token's signed `kubernetes.io` claims only; the cluster
// is chosen by the issuer and its keys are that cluster's alone.

import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { KeyholdError } from '../core/errors';
import { isSlot, slotOf } from '../core/names';
import type { Caller } from '../core/designation';

export const podTokenAudience = 'keyhold';

export interface ClusterConfig {
  /** First part of every slot of this cluster. */
  readonly name: string;
  readonly issuer: string;
  readonly jwksUri?: string;
  readonly jwks?: JSONWebKeySet;
}

export interface PodIdentity extends Caller {
  readonly cluster: string;
  readonly namespace: string;
  readonly podName: string;
  readonly serviceAccount: string;
}

// Asymmetric only: an HS256 token "signed" with a public key, or alg none, never verifies.
const podTokenAlgorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'];

/** Default KEYHOLD_POD_TOKEN_MAX_AGE_SECONDS: a token is refused this long after its `iat`, whatever its `exp`. */
export const defaultPodTokenMaxAgeMs = 3600_000;

export interface PodTokenOptions {
  /**
   * Oldest token accepted, counted from its `iat`. A projected token's `exp`
   * is whatever the pod spec asked for (up to a year for some clients, and
   * legacy tokens none at all), and the kubelet rotates them long before this.
   */
  readonly maxAgeMs?: number;
}

export class PodTokenVerifier {
  private readonly clusters: Map<string, { config: ClusterConfig; keys: JWTVerifyGetKey }>;
  private readonly maxAgeSeconds: number;

  constructor(clusters: readonly ClusterConfig[], opts: PodTokenOptions = {}) {
    const maxAgeMs = opts.maxAgeMs ?? defaultPodTokenMaxAgeMs;
    if (!(maxAgeMs >= 1000)) throw new TypeError('the pod token maximum age must be at least a second');
    this.maxAgeSeconds = Math.floor(maxAgeMs / 1000);
    this.clusters = new Map();
    for (const c of clusters) {
      if (this.clusters.has(c.issuer)) throw new TypeError(`two clusters share the issuer ${c.issuer}`);
      const keys = c.jwks ? createLocalJWKSet(c.jwks) : c.jwksUri ? createRemoteJWKSet(new URL(c.jwksUri), { timeoutDuration: 3000, cooldownDuration: 30_000 }) : undefined;
      if (!keys) throw new TypeError(`cluster ${c.name} needs jwksUri or jwks`);
      this.clusters.set(c.issuer, { config: c, keys });
    }
    // One cluster: its issuer is checked by the verification itself, so the token need not be decoded twice.
    this.only = this.clusters.size === 1 ? [...this.clusters.values()][0]! : undefined;
  }

  private readonly only: { config: ClusterConfig; keys: JWTVerifyGetKey } | undefined;

  /** The cluster the token's (unverified) issuer names, to pick the keys to verify it with. */
  private clusterOf(token: string): { config: ClusterConfig; keys: JWTVerifyGetKey } | undefined {
    let issuer: unknown;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      return undefined;
    }
    return typeof issuer === 'string' ? this.clusters.get(issuer) : undefined;
  }

  async verify(token: string, now: number): Promise<PodIdentity> {
    const cluster = this.only ?? this.clusterOf(token);
    if (!cluster) throw new KeyholdError('unauthenticated');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, cluster.keys, {
        algorithms: podTokenAlgorithms,
        issuer: cluster.config.issuer,
        audience: podTokenAudience,
        currentDate: new Date(now),
        // Without `iat` the age cannot be known: such a token is refused.
        requiredClaims: ['exp', 'sub', 'iat'],
        maxTokenAge: this.maxAgeSeconds,
        clockTolerance: 5,
      }));
    } catch (e) {
      if (e instanceof joseErrors.JOSEError) throw new KeyholdError('unauthenticated');
      throw e;
    }
    const k8s = payload['kubernetes.io'] as
      | { namespace?: unknown; pod?: { name?: unknown; uid?: unknown }; serviceaccount?: { name?: unknown } }
      | undefined;
    const namespace = k8s?.namespace;
    const podName = k8s?.pod?.name;
    const podUid = k8s?.pod?.uid;
    const serviceAccount = k8s?.serviceaccount?.name;
    // A token not bound to a pod (a long-lived secret token) names no pod instance: useless for fencing.
    if (typeof namespace !== 'string' || typeof podName !== 'string' || typeof podUid !== 'string' || typeof serviceAccount !== 'string') {
      throw new KeyholdError('unauthenticated');
    }
    if (!/^[0-9a-f-]{36}$/i.test(podUid)) throw new KeyholdError('unauthenticated');
    const slot = slotOf(cluster.config.name, namespace, podName);
    if (!isSlot(slot)) throw new KeyholdError('unauthenticated');
    return { cluster: cluster.config.name, namespace, podName, podUid: podUid.toLowerCase(), serviceAccount, slot };
  }
}
