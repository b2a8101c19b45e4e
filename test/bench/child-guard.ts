// Run by every child the bench starts: exit when the bench is gone (even if
// it was SIGKILLed and could not clean up) or after a fixed life.

export function guardChildLife(onExit: () => void = () => process.exit(0)): void {
  const parent = Number(process.env.BENCH_PARENT_PID ?? process.ppid);
  const maxLife = Number(process.env.BENCH_MAX_LIFE_MS ?? 600_000);
  setTimeout(onExit, maxLife).unref();
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      onExit();
    }
  }, 1000).unref();
}
