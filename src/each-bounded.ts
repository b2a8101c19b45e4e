// Bounded concurrency for fan-outs: a pod's list of validators (broker), a
// store's batched reads (the DynamoDB state store), the bench's seeding.

/** Runs `fn` over `items`, at most `width` at a time, keeping the input order in the answer. */
export async function eachBounded<I, T>(items: readonly I[], width: number, fn: (item: I) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

/** The distinct `items` in batches of at most `size`, `fn` run on at most `width` batches at a time (a store's batched reads). */
export async function eachBatch<I>(items: readonly I[], size: number, width: number, fn: (batch: I[]) => Promise<void>): Promise<void> {
  const unique = [...new Set(items)];
  const batches: I[][] = [];
  for (let i = 0; i < unique.length; i += size) batches.push(unique.slice(i, i + size));
  await eachBounded(batches, width, fn);
}
