// A stand-in `lighthouse` for the validator container's wrapper script. It
// refuses what Lighthouse refuses for the flags the wrapper uses, and keeps
// a slashing "database" with the same create/open rules, so the script is
// judged by the binary's behaviour, not by its text. Sources (sigp/lighthouse):
// - lighthouse/src/main.rs: --network (values from HARDCODED_NET_NAMES,
//   common/eth2_config/src/lib.rs) and --datadir/-d are global(true).
// - validator_client/src/cli.rs: --validators-dir (alias --validator-dir) and
//   --secrets-dir conflicts_with("datadir"). Clap validates a subcommand's
//   conflicts among the arguments given after the subcommand's name; a
//   global given before it is copied down afterwards (clap_builder
//   parser/arg_matcher.rs propagate_globals), so only `vc --datadir` conflicts.
// - validator_client/src/config.rs: validator_dir = --validators-dir, else
//   $datadir/validators; account_manager/src/validator/mod.rs: $datadir/validators.
// - validator_client/src/lib.rs and slashing_protection/src/slashing_database.rs:
//   with --init-slashing-protection (or no keys) open_or_create: open if
//   Path::exists (which follows symlinks), else create_new (O_CREAT|O_EXCL,
//   which fails on any existing path, a dangling symlink included); without
//   it open, and every key must be registered.
// - account_manager/src/validator/slashing_protection.rs: import is
//   open_or_create and checks genesis_validators_root; export needs the database.
// The "database" is JSON {registered: [pubkeys]}. Every run is appended to
// $STANDIN_LOG as one JSON line.
import { appendFileSync, existsSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const nets = new Set(['mainnet', 'gnosis', 'chiado', 'sepolia', 'holesky', 'hoodi']);
const globals = { '--network': 'network', '--datadir': 'datadir', '-d': 'datadir' };
const commands = {
  top: { sub: { vc: 'vc', validator_client: 'vc', account: 'account', a: 'account', am: 'account', account_manager: 'account' }, flags: {} },
  vc: {
    sub: {},
    flags: {
      '--validators-dir': 'value', '--validator-dir': 'value', '--secrets-dir': 'value', '--beacon-nodes': 'value',
      '--init-slashing-protection': 'flag', '--enable-doppelganger-protection': 'flag', '--suggested-fee-recipient': 'value',
      '--metrics': 'flag', '--metrics-address': 'value', '--metrics-port': 'value', '--builder-proposals': 'flag',
    },
    conflicts: { '--validators-dir': 'datadir', '--validator-dir': 'datadir', '--secrets-dir': 'datadir' },
  },
  account: { sub: { validator: 'account validator' }, flags: {} },
  'account validator': { sub: { 'slashing-protection': 'slashing' }, flags: {} },
  slashing: { sub: { import: 'import', export: 'export' }, flags: {} },
  import: { sub: {}, flags: {}, positional: 1 },
  export: { sub: {}, flags: {}, positional: 1 },
};

function fail(code, message) {
  process.stderr.write(`error: ${message}\n`);
  log({ argv: process.argv.slice(2), exit: code, error: message });
  process.exit(code);
}
function log(entry) {
  if (process.env.STANDIN_LOG) appendFileSync(process.env.STANDIN_LOG, `${JSON.stringify(entry)}\n`);
}

const argv = process.argv.slice(2);
const g = {};
const flags = {};
const positionals = [];
let level = 'top';
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const spec = commands[level];
  if (a in globals) {
    const v = argv[++i];
    if (v === undefined) fail(2, `a value is required for '${a}'`);
    g[globals[a]] = { value: v, level };
  } else if (a.startsWith('-')) {
    const kind = spec.flags[a];
    if (kind === undefined) fail(2, `unexpected argument '${a}' found (subcommand ${level})`);
    if (kind === 'value') {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) fail(2, `a value is required for '${a}'`);
      flags[a] = v;
    } else flags[a] = true;
  } else if (spec.sub[a] !== undefined) {
    level = spec.sub[a];
  } else if ((spec.positional ?? 0) > positionals.length) {
    positionals.push(a);
  } else fail(2, `unexpected argument '${a}' found (subcommand ${level})`);
}
for (const [flag, other] of Object.entries(commands[level].conflicts ?? {})) {
  if (flag in flags && g[other]?.level === level) fail(2, `the argument '${flag}' cannot be used with '--${other} <DIR>'`);
}
if (g.network && !nets.has(g.network.value)) fail(2, `invalid value '${g.network.value}' for '--network <network>'`);
if ((commands[level].positional ?? 0) > positionals.length) fail(2, `the following required arguments were not provided: <FILE> (${level})`);
if (!['vc', 'import', 'export'].includes(level)) fail(2, `'lighthouse' requires a subcommand (${level})`);
const datadir = g.datadir?.value;
if (datadir === undefined) fail(1, 'the stand-in needs --datadir (the real default is $HOME/.lighthouse/<network>)');

const read = (p) => JSON.parse(readFileSync(p, 'utf8'));
function createNew(path) {
  // O_CREAT|O_EXCL, as Rust's create_new: EEXIST on any existing path, a dangling symlink included.
  try {
    closeSync(openSync(path, 'wx'));
  } catch (e) {
    fail(1, `Failed to open or create slashing protection database: SQLError("Unable to open database: ${e.code}")`);
  }
  writeFileSync(path, JSON.stringify({ registered: [] }));
}
function open(path) {
  if (!existsSync(path)) fail(1, `Failed to open slashing protection database: ${path} missing`);
  return read(path);
}
function openOrCreate(path) {
  if (!existsSync(path)) createNew(path);
  return read(path);
}

if (level === 'vc') {
  const validatorDir = flags['--validators-dir'] ?? flags['--validator-dir'] ?? join(datadir, 'validators');
  const defsPath = join(validatorDir, 'validator_definitions.yml');
  if (!existsSync(defsPath)) fail(1, `no ${defsPath}`);
  const defs = readFileSync(defsPath, 'utf8');
  const keys = [...defs.matchAll(/voting_public_key"?:\s*"?(0x[0-9a-fA-F]+)/g)].map((m) => m[1].toLowerCase());
  const dbPath = join(validatorDir, 'slashing_protection.sqlite');
  const init = flags['--init-slashing-protection'] === true;
  const db = init || keys.length === 0 ? openOrCreate(dbPath) : open(dbPath);
  if (init) db.registered = [...new Set([...db.registered, ...keys])];
  else if (keys.some((k) => !db.registered.includes(k))) fail(1, 'One or more validators not found in slashing protection database.');
  writeFileSync(dbPath, JSON.stringify(db));
  log({ argv, exit: 0, run: 'vc', validatorDir, dbPath, keys });
} else {
  const dbPath = join(datadir, 'validators', 'slashing_protection.sqlite');
  const file = positionals[0];
  if (level === 'import') {
    const interchange = read(file);
    if (interchange.metadata?.genesis_validators_root !== process.env.STANDIN_GVR) fail(1, 'genesis validators root mismatch');
    const db = openOrCreate(dbPath);
    db.registered = [...new Set([...db.registered, ...interchange.data.map((d) => d.pubkey.toLowerCase())])];
    writeFileSync(dbPath, JSON.stringify(db));
  } else {
    const db = open(dbPath);
    writeFileSync(file, JSON.stringify({ metadata: { interchange_format_version: '5', genesis_validators_root: process.env.STANDIN_GVR }, data: db.registered.map((pubkey) => ({ pubkey, signed_blocks: [], signed_attestations: [] })) }));
  }
  log({ argv, exit: 0, run: level, dbPath });
}
