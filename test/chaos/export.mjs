// KEYHOLD_SLASHING_EXPORT_COMMAND of the chaos pods: prints the stand-in's
// database as an EIP-3076 interchange (its highest block slot, and an
// attestation at that slot's epoch), as `lighthouse account
// slashing-protection export` would once the client stopped.
import { existsSync, readFileSync } from 'node:fs';
import process from 'node:process';

const [dbFile, pubkey, root] = process.argv.slice(2);
const slots = existsSync(dbFile) ? readFileSync(dbFile, 'utf8').split('\n').filter(Boolean).map(Number) : [];
const max = slots.reduce((a, b) => Math.max(a, b), -1);
const target = Math.floor(Math.max(max, 0) / 32);
const data = max < 0 ? [] : [{ pubkey, signed_blocks: [{ slot: String(max) }], signed_attestations: [{ source_epoch: String(Math.max(0, target - 1)), target_epoch: String(target) }] }];
process.stdout.write(JSON.stringify({ metadata: { interchange_format_version: '5', genesis_validators_root: root }, data }));
