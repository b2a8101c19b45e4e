// A start that cannot go on for a reason outside the configuration's syntax
// (a port in use, a home that cannot be used, a store that refuses): one
// line that names what to change. The server prints it and exits 1.

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** The short, public part of a system or SDK error: its code, else its name. */
export const errorTag = (e: unknown): string => {
  const err = e as { code?: unknown; name?: unknown };
  return typeof err?.code === 'string' ? err.code : typeof err?.name === 'string' ? err.name : 'error';
};
