// The chaos harness's stand-in signer. Like a validator client behind the
// manifests' wrapper it waits for the key files, imports the slashing history
// fetch wrote (its watermark), loads the key and signs, one block slot every
// 100 ms, never at or below what its own database already holds. Every
// signing is written to the pod's database (a file that survives signer and
// keeper restarts, like lighthouse's data dir) before it is reported, so the
// export the keeper hands back covers every signing that was reported.
//
// Reports on stdout, one line each; the controller timestamps them:
//   loading <epoch> <predecessor> <watermark>   holds the key from now
//   sign <slot>
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { clearInterval, setInterval } from 'node:timers';

const [keyDir, pidfile, dbFile] = process.argv.slice(2);
const ready = () => existsSync(join(keyDir, 'validator_definitions.yml')) && existsSync(join(keyDir, 'grant.jwt'));
const dbMax = () => (existsSync(dbFile) ? readFileSync(dbFile, 'utf8').split('\n').filter(Boolean).map(Number).reduce((a, b) => Math.max(a, b), -1) : -1);

function importedWatermark() {
  const path = join(keyDir, 'slashing-protection.json');
  if (!existsSync(path)) return -1;
  const ic = JSON.parse(readFileSync(path, 'utf8'));
  let w = -1;
  for (const d of ic.data ?? []) for (const b of d.signed_blocks ?? []) w = Math.max(w, Number(b.slot));
  return w;
}

process.once('SIGTERM', () => process.exit(0));

const wait = setInterval(() => {
  if (!ready()) return;
  clearInterval(wait);
  writeFileSync(pidfile, `${process.pid}\n`);
  let grant = { epoch: 0, predecessor: 'none' };
  try {
    grant = JSON.parse(readFileSync(join(keyDir, 'grant.json'), 'utf8'));
    readFileSync(join(keyDir, 'keystore.json'));
  } catch {
    process.exit(3);
  }
  const w = importedWatermark();
  if (w > dbMax()) appendFileSync(dbFile, `${w}\n`);
  process.stdout.write(`loading ${grant.epoch} ${grant.predecessor ?? 'none'} ${w}\n`);
  let last = dbMax();
  setInterval(() => {
    const slot = Math.max(last + 1, Math.floor(Date.now() / 100));
    appendFileSync(dbFile, `${slot}\n`);
    last = slot;
    process.stdout.write(`sign ${slot}\n`);
  }, 100);
}, 20);
