// The liveness probe is exec'd by the kubelet, so what it prints reaches only
// the pod's events, and only when it fails. The keeper reads the probe's
// record and logs when the probe starts or stops falling back to the clock,
// so a fallback is in the container log (and in keyhold_probe_fallback), not
// silent.

import { readProbeRecord, type ProbeRecord } from './probe';

/** The log line for a change of fallback state between two probe records, or null when nothing changed. */
export function probeNotice(previous: ProbeRecord | null, next: ProbeRecord | null): string | null {
  if (next === null || next.checkedAt === previous?.checkedAt) return null;
  const was = previous?.fallback === true;
  if (next.fallback && !was) {
    return `probe FALLBACK: no reference node answered (${next.referenceErrors.join('; ') || 'no detail'}); judging the local node by the clock until one does`;
  }
  if (!next.fallback && was && next.basis === 'reference') return 'probe: reference nodes answer again';
  return null;
}

/** Polls the probe's record and logs fallback changes; returns a stop function. */
export function watchProbe(path: string, log: (line: string) => void, everyMs = 15_000): () => void {
  let last: ProbeRecord | null = null;
  const tick = async () => {
    const next = await readProbeRecord(path);
    const notice = probeNotice(last, next);
    if (notice) log(notice);
    if (next) last = next;
  };
  const timer = setInterval(() => void tick(), everyMs);
  timer.unref();
  void tick();
  return () => clearInterval(timer);
}
