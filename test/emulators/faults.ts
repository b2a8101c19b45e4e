// Fault injection shared by every emulator, switched per operation so that
// each adapter's timeout, retry and breaker behaviour is proven, not assumed.
// Operation names are the service's own (AWS target, gRPC method, Vault
// "<METHOD> <route>" such as "PUT data"), or '*' for all.

export type Fault =
  | { kind: 'latency'; ms: number }
  /** Accept the request and never answer: the client must time out. */
  | { kind: 'hang' }
  /** A server fault: HTTP 500 / gRPC INTERNAL (or UNAVAILABLE). */
  | { kind: 'error' }
  /** AWS ThrottlingException, GCP RESOURCE_EXHAUSTED, Vault 429. */
  | { kind: 'throttle' }
  /** Destroy the connection without an answer. */
  | { kind: 'reset' }
  /** The listening port is closed until the fault is cleared. */
  | { kind: 'down' };

interface Rule {
  fault: Fault;
  remaining: number;
}

export class FaultController {
  private readonly rules = new Map<string, Rule>();
  private readonly listeners = new Set<(down: boolean) => void>();

  /** Inject `fault` for `operation` ('*' for all), `times` times (default: until cleared). */
  set(operation: string, fault: Fault, opts: { times?: number } = {}): void {
    const wasDown = this.isDown();
    this.rules.set(operation, { fault, remaining: opts.times ?? Number.POSITIVE_INFINITY });
    // Replacing the last 'down' rule with another fault must reopen the port.
    if (wasDown !== this.isDown()) this.emitDown(!wasDown);
  }

  clear(operation?: string): void {
    const wasDown = this.isDown();
    if (operation === undefined) this.rules.clear();
    else this.rules.delete(operation);
    if (wasDown && !this.isDown()) this.emitDown(false);
  }

  /** The fault to apply to one call of `operation`, consuming one use. */
  take(operation: string): Fault | undefined {
    for (const key of [operation, '*']) {
      const rule = this.rules.get(key);
      if (!rule || rule.fault.kind === 'down') continue;
      rule.remaining -= 1;
      if (rule.remaining <= 0) this.rules.delete(key);
      return rule.fault;
    }
    return undefined;
  }

  isDown(): boolean {
    for (const rule of this.rules.values()) if (rule.fault.kind === 'down') return true;
    return false;
  }

  /** Servers subscribe to close and reopen their port on 'down'. */
  onDownChange(listener: (down: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emitDown(down: boolean): void {
    for (const l of this.listeners) l(down);
  }
}

/** What every emulator's `start…Emulator()` returns. */
export interface EmulatorHandle {
  /** host:port for gRPC, http://host:port for HTTP services. */
  readonly address: string;
  readonly port: number;
  readonly faults: FaultController;
  /** Forget all stored state (between tests). */
  reset(): void;
  close(): Promise<void>;
}
