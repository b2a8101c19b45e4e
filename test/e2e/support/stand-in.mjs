// A stand-in validator client: like the manifests' wrapper it waits until the
// key files are in place, then (like lighthouse) writes its pid, loads the
// key and signs until it is stopped. It prints the moment it starts loading,
// so the test can record every interval in which it holds the key.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { clearInterval, setInterval } from 'node:timers';

const [keyDir, pidfile] = process.argv.slice(2);
const ready = () => existsSync(join(keyDir, 'validator_definitions.yml')) && existsSync(join(keyDir, 'grant.jwt'));

const wait = setInterval(() => {
  if (!ready()) return;
  clearInterval(wait);
  writeFileSync(pidfile, `${process.pid}\n`);
  process.stdout.write(`loading ${Date.now()}\n`);
  try {
    readFileSync(join(keyDir, 'keystore.json'));
    readFileSync(join(keyDir, 'password.txt'));
  } catch {
    process.stdout.write(`failed ${Date.now()}\n`);
    process.exit(3);
  }
  process.stdout.write(`holding ${Date.now()}\n`);
  setInterval(() => {}, 1000);
}, 20);
