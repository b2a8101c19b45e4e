// Edit the broker's signing key ring on a trusted machine, for the rotation
// steps in README.md ("Rotating the broker signing key"). Reads the ring on
// stdin, writes the new ring on stdout; only `show` prints, and it prints no
// private part.
//
//   npx tsx functions/signing-key-ring.ts new [kid]        > ring.json
//   npx tsx functions/signing-key-ring.ts add [kid]        < ring.json > next.json
//   npx tsx functions/signing-key-ring.ts activate <kid>   < ring.json > next.json
//   npx tsx functions/signing-key-ring.ts drop <kid>       < ring.json > next.json
//   npx tsx functions/signing-key-ring.ts show             < ring.json

import { randomUUID } from 'node:crypto';
import { text } from 'node:stream/consumers';
import { pathToFileURL } from 'node:url';
import type { JWK } from 'jose';
import { generateSigningJwk } from '../src/grants/signer';
import { parseSigningKeyRing } from '../src/signing-keys/ring';

export type RingEdit = { op: 'add'; kid?: string } | { op: 'activate'; kid: string } | { op: 'drop'; kid: string };

const kidFor = (kid: string | undefined) => kid ?? `broker-${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`;

/** One rotation step. A new key joins last: it verifies at once, and signs only once activated. */
export async function editRing(ring: readonly JWK[], edit: RingEdit): Promise<JWK[]> {
  const kids = ring.map((k) => k.kid);
  switch (edit.op) {
    case 'add': {
      const kid = kidFor(edit.kid);
      if (kids.includes(kid)) throw new Error(`the ring already has kid "${kid}"`);
      return [...ring, await generateSigningJwk(kid)];
    }
    case 'activate': {
      const key = ring.find((k) => k.kid === edit.kid);
      if (!key) throw new Error(`no kid "${edit.kid}" in the ring (has: ${kids.join(', ')})`);
      return [key, ...ring.filter((k) => k !== key)];
    }
    case 'drop': {
      if (kids[0] === edit.kid) throw new Error(`"${edit.kid}" is the active key: activate another one first`);
      if (!kids.includes(edit.kid)) throw new Error(`no kid "${edit.kid}" in the ring (has: ${kids.join(', ')})`);
      return ring.filter((k) => k.kid !== edit.kid);
    }
  }
}

async function main([verb, arg]: readonly string[]): Promise<void> {
  const out = (ring: readonly JWK[]) => process.stdout.write(`${JSON.stringify({ keys: ring })}\n`);
  if (verb === 'new') return void out([await generateSigningJwk(kidFor(arg))]);
  const ring = parseSigningKeyRing(await text(process.stdin), 'stdin');
  if (verb === 'show') {
    ring.forEach((k, i) => process.stdout.write(`${k.kid}\t${i === 0 ? 'active (signs)' : 'verifies only'}\n`));
    return;
  }
  if (verb === 'add') return void out(await editRing(ring, { op: 'add', ...(arg ? { kid: arg } : {}) }));
  if ((verb === 'activate' || verb === 'drop') && arg) return void out(await editRing(ring, { op: verb, kid: arg }));
  throw new Error('usage: signing-key-ring.ts new [kid] | add [kid] | activate <kid> | drop <kid> | show   (ring on stdin, new ring on stdout)');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error((e as Error).message);
    process.exitCode = 1;
  });
}
