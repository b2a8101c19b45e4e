// Writes EIP-2335 keystores of the interop secret keys (the dev chain's
// published, deterministic test keys) with a pbkdf2 of one iteration, so that
// a test client decrypts at once. Runs inside this folder so that it resolves
// Lodestar's own packages; prints one JSON line: [{index, pubkey, file}].
// Usage: node interop-keystores.mjs OUT_DIR PASSWORD FIRST COUNT
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Buffer } from 'node:buffer';
import { Keystore } from '@chainsafe/bls-keystore';
import { interopSecretKey } from '@lodestar/state-transition';

const [outDir, password, first, count] = process.argv.slice(2);
if (!outDir || password === undefined || !first || !count) {
  console.error('usage: node interop-keystores.mjs OUT_DIR PASSWORD FIRST COUNT');
  process.exit(2);
}
// One iteration: test keys only. Real keystores use scrypt n=2^18.
const fastKdf = { function: 'pbkdf2', params: { dklen: 32, c: 1, prf: 'hmac-sha256', salt: '' } };

await mkdir(outDir, { recursive: true });
const out = [];
for (let i = Number(first); i < Number(first) + Number(count); i++) {
  const sk = interopSecretKey(i);
  const pk = sk.toPublicKey().toBytes();
  const salt = Buffer.alloc(32, i + 1).toString('hex');
  const ks = await Keystore.create(password, sk.toBytes(), pk, `m/12381/3600/${i}/0/0`, `interop ${i}`, { ...fastKdf, params: { ...fastKdf.params, salt } });
  const file = join(outDir, `keystore-${i}.json`);
  await writeFile(file, ks.stringify(), { mode: 0o600 });
  out.push({ index: i, pubkey: `0x${Buffer.from(pk).toString('hex')}`, file });
}
console.log(JSON.stringify(out));
