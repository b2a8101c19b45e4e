// The keyhold CLI: thin over the broker's HTTP API. Exit codes: 0 ok,
// 1 refused (or the ledger failed verification), 2 usage, 3 broker unreachable.

import { createWriteStream } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Command, CommanderError, Option } from 'commander';
import type { JSONWebKeySet } from 'jose';
import { parseCheckpoint, type SignedCheckpoint } from '../core/checkpoints';
import { isServiceAccountName, isSlot, isValidatorId } from '../core/names';
import { homeFiles, mintDevPodToken, readOperatorCredential } from '../identity/dev-credentials';
import { openApiDocument } from '../http/openapi';
import { BrokerClient, CliError, brokerUrl, exitCodes } from './client';
import { emit, progress, type Format } from './output';
import { ExportFileError, verifyExportFile } from './verify-file';
import { readWitnessAnchor, witnessSound, WitnessUsageError, type WitnessView } from './witness';

export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  /** Answers a yes/no question on a terminal; null when there is no terminal. */
  readonly confirm: ((question: string) => Promise<boolean>) | null;
}

export const processIo = (): CliIo => ({
  env: process.env,
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  confirm:
    process.stdin.isTTY && process.stdout.isTTY
      ? async (q) => {
          const rl = createInterface({ input: process.stdin, output: process.stdout });
          try {
            return /^y(es)?$/i.test((await rl.question(`${q} [y/N] `)).trim());
          } finally {
            rl.close();
          }
        }
      : null,
});

const usage = (message: string) => new CliError(message, exitCodes.usage);

function validatorArg(v: string): string {
  if (!isValidatorId(v)) throw usage(`"${v}" is not a validator id (lower-case letters, digits, '.' and '-', at most 63)`);
  return v;
}
function slotArg(s: string): string {
  if (!isSlot(s)) throw usage(`"${s}" is not a slot (cluster/namespace/pod-name)`);
  return s;
}
const collect = (v: string, prev: string[]) => [...prev, v];
const formatOption = () => new Option('--format <format>', 'output format').choices(['table', 'json', 'ndjson']).default('table');

interface Designation {
  epoch: number;
  slot: string;
  podUid: string | null;
  state: string;
  notBefore: string;
  updatedAt: string;
}
interface ValidatorView {
  id: string;
  slots: string[];
  designation: Designation;
  keyFingerprint: string;
  keyFormat: string;
  slashingProtection: boolean;
}
interface VerifyView {
  ok: boolean;
  chains: number;
  entries: number;
  problem: { chain: string; seq: number; fault: string } | null;
  checkpoint: { seq: number; time: number; verified: boolean } | null;
  trust?: SignedCheckpoint;
}

function describeProblem(p: { chain: string; seq: number; fault: string }): string {
  if (p.chain === '_checkpoints') return `checkpoint chain, checkpoint ${p.seq} (${p.fault})`;
  if (p.chain === '_export') return `the export's own counts do not match its contents (${p.fault})`;
  return `chain ${p.chain}, first bad entry ${p.seq} (${p.fault})`;
}

async function readJsonFile<T>(path: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw usage(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw usage(`${path} is not JSON`);
  }
}

async function readJwks(path: string | undefined): Promise<JSONWebKeySet> {
  if (!path) throw usage("--file needs --jwks: the broker's published JWKS, fetched from a source you trust");
  const jwks = await readJsonFile<JSONWebKeySet>(path);
  if (!Array.isArray(jwks.keys)) throw usage(`${path} is not a JWKS (no "keys")`);
  return jwks;
}

async function readTrust(path: string): Promise<SignedCheckpoint> {
  const c = parseCheckpoint(await readJsonFile<unknown>(path));
  if (!c) throw usage(`${path} is not a keyhold checkpoint (write one with --save-trust)`);
  return c;
}

/** Replace the file whole or not at all: a crash mid-write must not leave a trust anchor that fails to parse. */
async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}

/** What an operator should do about an import refusal, beside the broker's code. */
const importHints = (file: string, passwordFile: string): Record<string, string> => ({
  key_in_use: `the key in ${file} is already imported under another validator id; a key belongs to one id for ever (run keys import again under that id to change its replicas)`,
  key_password_wrong: `${passwordFile} is not the password of ${file}; nothing was stored`,
  key_material_invalid: `${file} is not a valid EIP-2335 keystore, or its pubkey is not the key it holds; nothing was stored`,
});

const statusRow = (v: ValidatorView) => ({ validator: v.id, epoch: v.designation.epoch, state: v.designation.state, slot: v.designation.slot, pod: v.designation.podUid, notBefore: v.designation.notBefore, fingerprint: v.keyFingerprint.slice(0, 16) });
const statusColumns = ['validator', 'epoch', 'state', 'slot', 'pod', 'notBefore', 'fingerprint'];

export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const home = io.env.KEYHOLD_HOME ?? '.keyhold';
  const program = new Command('keyhold')
    .description('Key custody for proof-of-stake validators: talk to a keyhold broker.')
    .option('--url <url>', 'broker URL', io.env.KEYHOLD_URL ?? 'http://127.0.0.1:8787')
    .option('--credential <file>', 'operator credential (JSON: name, privateJwk)', io.env.KEYHOLD_OPERATOR_CREDENTIAL ?? homeFiles(home).operatorCredential)
    .option('--insecure-http', 'allow a plain http:// broker URL on another host (a lab only; key material is never sent that way)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  const client = (carriesKeys = false) => {
    const opts = program.opts<{ url: string; credential: string; insecureHttp?: boolean }>();
    const url = brokerUrl(opts.url, { insecureHttp: opts.insecureHttp === true, carriesKeys });
    return new BrokerClient(url.href, async () => {
      try {
        return await readOperatorCredential(opts.credential);
      } catch (e) {
        throw usage(`cannot read the operator credential ${opts.credential}: ${(e as Error).message}`);
      }
    });
  };

  /** One verify: of an export file offline (with the JWKS), or by the broker. */
  const verifyOnce = async (file: string | undefined, jwks: JSONWebKeySet | null, trusted: SignedCheckpoint | null): Promise<VerifyView> => {
    if (file) {
      try {
        return await verifyExportFile(file, {
          jwks: jwks!,
          trusted,
          onProgress: (n, f) => io.stderr(`keyhold: verified ${n.toLocaleString('en')} entries (${Math.round(f * 100)}% of the file)\n`),
        });
      } catch (e) {
        if (e instanceof ExportFileError) throw new CliError(`${file}: ${e.message}`, exitCodes.refused);
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw usage(`cannot read ${file}`);
        throw e;
      }
    }
    const done = progress('verifying the ledger');
    try {
      return (await client().call<VerifyView>('POST', '/v1/audit/verify', trusted ? { trust: trusted } : {}, { accept: [409] })).body;
    } finally {
      done();
    }
  };

  const keys = program.command('keys').description('key material');
  keys
    .command('import <validator>')
    .description('define a validator: import its key material and its allowed slots (the first is designated)')
    .requiredOption('--file <keystore>', 'EIP-2335 keystore JSON')
    .requiredOption('--password-file <file>', 'the keystore password')
    .requiredOption('--slot <slot>', 'allowed slot cluster/namespace/pod (repeat; the first is designated)', collect, [])
    .requiredOption('--service-account <name>', 'service account the slots\' pods run as (repeat); a pod of any other is refused', collect, [])
    .requiredOption('--genesis-validators-root <root>', "the network's genesis validators root, 0x and 64 hex digits (mainnet's, a testnet's or a dev chain's): slashing-protection interchanges of any other chain are refused")
    .option('--reason <text>', 'why, for the ledger')
    .option('--store <name>', 'write only this configured key store (repeat; default: every replica)', collect, [])
    .addOption(formatOption())
    .action(async (validator: string, o: { file: string; passwordFile: string; slot: string[]; serviceAccount: string[]; genesisValidatorsRoot: string; reason?: string; store: string[]; format: Format }) => {
      validatorArg(validator);
      o.slot.forEach(slotArg);
      if (o.serviceAccount.length === 0) throw usage('--service-account is required: name the service account the slots\' pods run as');
      for (const sa of o.serviceAccount) if (!isServiceAccountName(sa)) throw usage(`"${sa}" is not a service account name`);
      if (!/^0x[0-9a-fA-F]{64}$/.test(o.genesisValidatorsRoot)) throw usage('--genesis-validators-root must be 0x and 64 hex digits (32 bytes)');
      const broker = client(true);
      const [keystore, password] = await Promise.all([readFile(o.file), readFile(o.passwordFile)]).catch((e: NodeJS.ErrnoException) => {
        throw usage(`cannot read ${e.path ?? 'a file'}: ${e.code ?? e.message}`);
      });
      let pubkey: unknown;
      try {
        pubkey = (JSON.parse(keystore.toString()) as { pubkey?: unknown }).pubkey;
      } catch {
        throw usage(`${o.file} is not JSON`);
      }
      if (typeof pubkey !== 'string' || !/^(0x)?[0-9a-fA-F]{96}$/.test(pubkey)) throw usage(`${o.file} has no EIP-2335 "pubkey" (48 bytes hex)`);
      const publicId = pubkey.startsWith('0x') ? pubkey.toLowerCase() : `0x${pubkey.toLowerCase()}`;
      const body = {
        format: 'eip2335',
        publicId,
        files: { 'keystore.json': keystore.toString('base64'), 'password.txt': password.toString('base64') },
        slots: o.slot,
        serviceAccounts: o.serviceAccount,
        genesisValidatorsRoot: o.genesisValidatorsRoot.toLowerCase(),
        ...(o.reason ? { reason: o.reason } : {}),
        ...(o.store.length > 0 ? { stores: o.store } : {}),
      };
      keystore.fill(0);
      password.fill(0);
      const res = await broker
        .call<ValidatorView & { fingerprint: string; replicas: { store: string; version: string }[] }>('PUT', `/v1/validators/${validator}/key`, body)
        .catch((e: unknown) => {
          const hint = e instanceof CliError && e.code ? importHints(o.file, o.passwordFile)[e.code] : undefined;
          throw hint ? new CliError(`${e instanceof Error ? e.message : ''}\n  ${hint}`, (e as CliError).exitCode, (e as CliError).code) : e;
        });
      const r = res.body;
      emit(o.format, [{ validator: r.id, fingerprint: r.fingerprint, epoch: r.designation.epoch, slot: r.designation.slot, replicas: r.replicas.map((x) => `${x.store}@${x.version}`).join(',') }], ['validator', 'fingerprint', 'epoch', 'slot', 'replicas'], io.stdout);
    });
  keys
    .command('list')
    .description('key material in every configured store: validator, store, version, fingerprint')
    .addOption(formatOption())
    .action(async (o: { format: Format }) => {
      const res = await client().call<{ replicas: Record<string, unknown>[] }>('GET', '/v1/keys');
      emit(o.format, res.body.replicas, ['validator', 'store', 'version', 'fingerprint', 'status'], io.stdout);
    });
  keys
    .command('check')
    .description('compare every replica with the imported fingerprint; exit 1 if any is missing, differs or fails')
    .addOption(formatOption())
    .action(async (o: { format: Format }) => {
      const res = await client().call<{ ok: boolean; replicas: Record<string, unknown>[] }>('GET', '/v1/keys/check');
      emit(o.format, res.body.replicas, ['validator', 'store', 'status', 'version', 'fingerprint'], io.stdout);
      if (!res.body.ok) throw new CliError('some replicas are missing, differ or could not be read', exitCodes.refused);
    });

  program
    .command('status [validator]')
    .description('the designation of one validator, or of all')
    .addOption(formatOption())
    .action(async (validator: string | undefined, o: { format: Format }) => {
      const c = client();
      const views = validator
        ? [(await c.call<ValidatorView>('GET', `/v1/validators/${validatorArg(validator)}`)).body]
        : (await c.call<{ validators: ValidatorView[] }>('GET', '/v1/validators')).body.validators;
      if (o.format === 'table') emit('table', views.map(statusRow), statusColumns, io.stdout);
      else emit(o.format, views as unknown as Record<string, unknown>[], [], io.stdout);
    });

  program
    .command('promote <validator>')
    .description('move the designation to another allowed slot (raises the epoch; the old holder is fenced)')
    .requiredOption('--to <slot>', 'target slot')
    .requiredOption('--reason <text>', 'why, for the ledger')
    .option('--yes', 'do not ask for confirmation')
    .addOption(formatOption())
    .action(async (validator: string, o: { to: string; reason: string; yes?: boolean; format: Format }) => {
      validatorArg(validator);
      slotArg(o.to);
      if (!o.yes) {
        if (!io.confirm) throw usage('promote changes who may sign: confirm on a terminal or pass --yes');
        if (!(await io.confirm(`Promote ${validator} to ${o.to}? The current holder is fenced.`))) throw new CliError('not promoted', exitCodes.refused);
      }
      const res = await client().call<ValidatorView & { promotion: { status: string; expiresAt?: string } }>('POST', `/v1/validators/${validator}/promote`, { slot: o.to, reason: o.reason });
      if (res.body.promotion.status === 'pending') {
        io.stderr(`keyhold: promotion proposed; a second, different operator must run the same command before ${res.body.promotion.expiresAt}\n`);
      }
      emit(o.format, [{ ...statusRow(res.body), promotion: res.body.promotion.status }], [...statusColumns, 'promotion'], io.stdout);
    });

  const audit = program.command('audit').description('the tamper-evident ledger');
  audit
    .command('query')
    .description('decisions, oldest first, following pages to the end (or --limit)')
    .option('--validator <id>')
    .option('--slot <slot>')
    .option('--action <action>')
    .option('--actor <actor>', 'pod:<uid> or operator:<name>')
    .option('--epoch <n>')
    .option('--pod <uid>', 'entries by this pod instance, or naming it as the holder superseded')
    .option('--since <time>', 'ISO time or epoch ms')
    .option('--until <time>', 'ISO time or epoch ms')
    .option('--limit <n>', 'at most this many entries', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw usage('--limit must be a positive integer');
      return n;
    })
    .addOption(formatOption())
    .action(async (o: { validator?: string; slot?: string; action?: string; actor?: string; epoch?: string; pod?: string; since?: string; until?: string; limit?: number; format: Format }) => {
      const c = client();
      const rows: Record<string, unknown>[] = [];
      let cursor: string | null = null;
      const done = progress('reading the ledger');
      try {
        do {
          const q = new URLSearchParams();
          for (const k of ['validator', 'slot', 'action', 'actor', 'epoch', 'pod', 'since', 'until'] as const) if (o[k]) q.set(k, o[k]!);
          q.set('limit', String(Math.min(1000, (o.limit ?? Infinity) - rows.length)));
          if (cursor) q.set('cursor', cursor);
          const page: { body: { entries: Record<string, unknown>[]; cursor: string | null } } = await c.call('GET', `/v1/audit?${q}`);
          rows.push(...page.body.entries);
          cursor = page.body.cursor;
        } while (cursor && rows.length < (o.limit ?? Infinity));
      } finally {
        done();
      }
      emit(o.format, rows, ['at', 'chain', 'seq', 'action', 'actor', 'epoch', 'slot', 'reason'], io.stdout);
    });
  audit
    .command('holders')
    .description('who held a validator\'s key, per epoch, from when to when, and how each holding ended')
    .requiredOption('--validator <id>')
    .option('--since <time>', 'intervals still held at or after this time (ISO or epoch ms)')
    .option('--until <time>', 'intervals that began before this time (ISO or epoch ms)')
    .option('--json', 'same as --format json')
    .option('--ndjson', 'same as --format ndjson')
    .addOption(formatOption())
    .action(async (o: { validator: string; since?: string; until?: string; json?: boolean; ndjson?: boolean; format: Format }) => {
      const q = new URLSearchParams({ validator: validatorArg(o.validator) });
      for (const k of ['since', 'until'] as const) if (o[k]) q.set(k, o[k]!);
      const res = await client().call<{ intervals: Record<string, unknown>[] }>('GET', `/v1/audit/holders?${q}`);
      const format: Format = o.json ? 'json' : o.ndjson ? 'ndjson' : o.format;
      const iso = (t: unknown) => (typeof t === 'number' ? new Date(t).toISOString() : '-');
      const rows = format === 'table' ? res.body.intervals.map((i) => ({ ...i, from: iso(i.from), to: i.to === null ? 'held' : iso(i.to), ended: i.ended ?? '-' })) : res.body.intervals;
      emit(format, rows, ['epoch', 'slot', 'pod', 'from', 'to', 'ended'], io.stdout);
    });
  audit
    .command('verify')
    .description('check every hash chain and the signed checkpoint chain; exit 1 on any tampering')
    .option('--trust <file>', 'a checkpoint kept outside the store (from --save-trust): fail unless the ledger extends it')
    .option('--save-trust <file>', 'after a clean verify, write the newest checkpoint here for the next run')
    .option('--file <export>', 'verify an export from `keyhold audit export` offline, instead of asking the broker')
    .option('--jwks <file>', "with --file: the broker's published JWKS (GET /.well-known/jwks.json)")
    .option('--witness <url>', 'the write-once copy of the checkpoints (s3://BUCKET/PREFIX/ or gs://BUCKET/PREFIX/), read with your own cloud credentials: fail unless the ledger extends its newest checkpoint')
    .addOption(formatOption())
    .action(async (o: { trust?: string; saveTrust?: string; file?: string; jwks?: string; witness?: string; format: Format }) => {
      const anchors: SignedCheckpoint[] = [];
      if (o.trust) anchors.push(await readTrust(o.trust));
      let witness: WitnessView | null = null;
      if (o.witness) {
        try {
          const read = await readWitnessAnchor(o.witness, io.env, (n) => io.stderr(`keyhold: listed ${n.toLocaleString('en')} witness objects\n`));
          witness = read.view;
          if (read.report.newest) anchors.push(read.report.newest);
        } catch (e) {
          if (e instanceof WitnessUsageError) throw usage(e.message);
          throw new CliError(`cannot read the witness ${o.witness}: ${(e as { name?: string }).name ?? 'error'}`, exitCodes.unreachable);
        }
      }
      const jwks = o.file ? await readJwks(o.jwks) : null;
      // One verify per anchor (the ledger must extend each); with none, one plain verify.
      let r: VerifyView | null = null;
      for (const trusted of anchors.length > 0 ? anchors : [null]) {
        r = await verifyOnce(o.file, jwks, trusted);
        if (!r.ok) break;
      }
      const view = witness ? { ...r!, witness } : r!;
      if (o.format === 'table') {
        const cp = r!.checkpoint ? `, checkpoint #${r!.checkpoint.seq} of ${new Date(r!.checkpoint.time).toISOString()} verified` : ', no checkpoint yet';
        const anchored = anchors.length > 0 ? `, extends trusted checkpoint${anchors.length > 1 ? 's' : ''} ${anchors.map((a) => `#${a.seq}`).join(' and ')}` : '';
        io.stdout(r!.ok ? `ledger OK: ${r!.entries} entries in ${r!.chains} chains${cp}${anchored}\n` : `ledger TAMPERED: ${describeProblem(r!.problem!)}\n`);
        if (witness) {
          io.stdout(`witness ${witness.witness}: ${witness.checkpoints} checkpoints, newest ${witness.newest === null ? 'none' : `#${witness.newest}`}, ${witness.writeOnce ? 'write-once' : 'NOT write-once'}\n`);
          for (const f of witness.findings) io.stdout(`  witness TAMPERED: ${f}\n`);
        }
      } else emit(o.format, [view as unknown as Record<string, unknown>], [], io.stdout);
      if (!r!.ok || (witness && !witnessSound(witness))) throw new CliError('', exitCodes.refused);
      if (o.saveTrust && r!.trust) await writeFileAtomic(o.saveTrust, `${JSON.stringify(r!.trust, null, 2)}\n`);
    });
  audit
    .command('export')
    .description('write the whole ledger (checkpoints, then every chain) as NDJSON, for `audit verify --file` elsewhere')
    .option('--output <file>', 'write here instead of stdout')
    .action(async (o: { output?: string }) => {
      const body = await client().download('/v1/audit/export');
      const out = o.output ? createWriteStream(o.output, { mode: 0o600 }) : null;
      let bytes = 0;
      let lastNote = 0;
      const reader = body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
        if (out) {
          if (!out.write(value)) await new Promise<void>((r) => out.once('drain', () => r()));
          if (bytes - lastNote >= 16 * 1024 * 1024) {
            io.stderr(`keyhold: exported ${(bytes / 1024 / 1024).toFixed(0)} MiB\n`);
            lastNote = bytes;
          }
        } else io.stdout(Buffer.from(value).toString('utf8'));
      }
      if (out) await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    });
  audit
    .command('checkpoint')
    .description('sign a commitment to every chain head now')
    .action(async () => {
      const res = await client().call<{ seq: number; time: string; digest: string; chains: number }>('POST', '/v1/audit/checkpoints');
      io.stdout(`checkpoint #${res.body.seq} ${res.body.digest} at ${res.body.time} over ${res.body.chains} chains\n`);
    });

  program
    .command('api')
    .description('print the broker\'s HTTP API as an OpenAPI 3.1 document (also served at GET /openapi.json)')
    .action(() => {
      io.stdout(`${JSON.stringify(openApiDocument(), null, 2)}\n`);
    });

  program
    .command('dev')
    .description('local development helpers (the broker\'s KEYHOLD_HOME)')
    .command('token')
    .description('print a pod token from the local dev issuer')
    .requiredOption('--slot <slot>', 'local/<namespace>/<pod-name>')
    .requiredOption('--pod-uid <uuid>', 'the pod instance')
    .option('--ttl <seconds>', 'lifetime', '600')
    .option('--service-account <name>', 'the service account the pod runs as', 'validator')
    .action(async (o: { slot: string; podUid: string; ttl: string; serviceAccount: string }) => {
      const [cluster, namespace, podName] = slotArg(o.slot).split('/') as [string, string, string];
      if (cluster !== 'local') throw usage('the dev issuer signs for the cluster "local" only: use --slot local/<namespace>/<pod>');
      if (!/^[0-9a-f-]{36}$/i.test(o.podUid)) throw usage('--pod-uid must be a UUID');
      if (!isServiceAccountName(o.serviceAccount)) throw usage(`"${o.serviceAccount}" is not a service account name`);
      const token = await mintDevPodToken(home, { namespace, podName, podUid: o.podUid, serviceAccount: o.serviceAccount, ttlSeconds: Number(o.ttl) }).catch((e: Error) => {
        throw usage(`no dev issuer in ${join(home)} (${e.message}); run npm start first`);
      });
      io.stdout(`${token}\n`);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCodes.ok;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    if (e instanceof CliError) {
      if (e.message) io.stderr(`keyhold: ${e.message}\n`);
      return e.exitCode;
    }
    io.stderr(`keyhold: ${(e as Error).message}\n`);
    return exitCodes.refused;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runCli(process.argv.slice(2));
}
