// `npm run bench`: every figure of issues 9 and 17, measured with its
// baselines in the same run, printed as a table (figure, value, target, status).
//
//   npm run bench -- --json                  one JSON object on stdout (progress stays on stderr)
//   npm run bench -- --only grant,renew      a subset, by group or by figure name
//   npm run bench -- --profile               the broker child (and each cloud's cold first grant) under node --cpu-prof; top self time on stderr
//   npm run bench -- --seconds 8             load duration per HTTP test (after a 2 s warm-up)
//   npm run bench -- --warmup 12             load each server takes before the broker-vs-ceiling groups (grant, renew) measure it
//   npm run bench -- --fleet-validators N    fleet size of the fleet-renew group (default 10,000; printed as renew_fleet_validators)
//   npm run bench -- --fleet-stores dynamodb the fleet-renew group on these state stores only (default sqlite,dynamodb; the others' figures stay null)
//
// Groups: crypto, grant, renew, hello, ledger, verify, audit, store-calls, fleet, cold-start, handoff, fleet-renew.
// A ratio needs its baseline: --only grant measures the crypto floor and the
// crypto-only ceiling server (ceiling-child.ts) too.

import { coldStarts } from './cold-start';
import { costPerValidatorMonth } from './cost';
import { fleetDay } from './fleet-day';
import { fleetRenew, fleetStores, type FleetStore } from './fleet-renew';
import { cryptoFloor, renewFloor } from './crypto';
import { chainHandoffs, handoffPlanned, handoffWaiting } from './handoff';
import { brokerLoad, brokerWarmupSeconds, defaultLoad, helloLoad, type LoadSettings } from './http-load';
import { largeLedger, ledgerAppend } from './ledger';
import { notes, progress, round, table, type Figures } from './report';
import { storeCallsPerRenew } from './store-calls';

const groups = ['crypto', 'grant', 'renew', 'hello', 'ledger', 'verify', 'audit', 'store-calls', 'fleet', 'cold-start', 'handoff', 'fleet-renew'] as const;
type Group = (typeof groups)[number];

/** Figure name → the group that measures it, so --only takes either. */
const groupOf: Record<string, Group> = {
  crypto_floor_per_s: 'crypto',
  renew_floor_per_s: 'crypto',
  grant_issue_per_s: 'grant',
  grant_p50_ms: 'grant',
  grant_p99_ms: 'grant',
  grant_vs_floor: 'grant',
  grant_ceiling_per_s: 'grant',
  grant_vs_ceiling: 'grant',
  grant_cpu_ms_per_request: 'grant',
  grant_main_thread_ms_per_request: 'grant',
  renew_main_thread_ms_per_request: 'renew',
  rss_mb: 'grant',
  renew_per_s: 'renew',
  renew_vs_floor: 'renew',
  renew_ceiling_per_s: 'renew',
  renew_vs_ceiling: 'renew',
  renew_cpu_ms_per_request: 'renew',
  hono_hello_per_s: 'hello',
  ledger_append_per_s: 'ledger',
  ledger_verify_per_s: 'verify',
  audit_query_p99_ms: 'audit',
  store_calls_per_renew: 'store-calls',
  store_calls_per_validator_day_held: 'fleet',
  store_calls_per_validator_day_standby: 'fleet',
  store_calls_per_promotion: 'fleet',
  store_calls_per_validator_day_held_many_keys: 'fleet',
  store_calls_per_validator_day_standby_many_keys: 'fleet',
  keys_per_pod: 'fleet',
  cost_per_validator_month_one_key_per_pod: 'fleet',
  ledger_entries_per_validator_day: 'fleet',
  cost_per_validator_month: 'fleet',
  cost_checkpoints_per_validator_month: 'fleet',
  cost_secret_per_validator_month: 'fleet',
  function_node: 'cold-start',
  cold_start_ms: 'cold-start',
  hello_cold_start_ms: 'cold-start',
  cold_start_vs_hello: 'cold-start',
  cold_grant_ms: 'cold-start',
  warm_grant_ms: 'cold-start',
  cold_grant_floor_hello_ms: 'cold-start',
  cold_grant_vs_floor: 'cold-start',
  bundle_bytes: 'cold-start',
  handoff_planned_ms: 'handoff',
  handoff_waiting_ms: 'handoff',
  chain_handoff_waiting_ms: 'handoff',
  chain_handoff_missed_attestations: 'handoff',
  renew_fleet_per_s: 'fleet-renew',
  renew_fleet_p99_ms: 'fleet-renew',
  renew_fleet_per_s_one_key_per_pod: 'fleet-renew',
  renew_fleet_p99_ms_one_key_per_pod: 'fleet-renew',
};

const ratio = (v: number, base: number | null): number | null => (base !== null && base > 0 ? round(v / base, 3) : null);

function usage(message: string): never {
  console.error(`bench: ${message}\nusage: npm run bench -- [--json] [--only ${groups.join(',')} | figure names] [--profile] [--seconds N] [--warmup N] [--validators N] [--fleet-validators N] [--fleet-stores ${fleetStores.join(',')}]`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]) {
  let json = false;
  let profile = false;
  let only: Set<Group> = new Set(groups);
  let seconds = defaultLoad.seconds;
  let warmup = brokerWarmupSeconds;
  let validators = 200;
  let fleetValidators = 10_000;
  let fleetStoresRun: readonly FleetStore[] = fleetStores;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === '--json') json = true;
    else if (a === '--profile') profile = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const list = a.startsWith('--only=') ? a.slice(7) : value();
      only = new Set(
        list.split(',').filter(Boolean).map((n) => {
          const g = (groups as readonly string[]).includes(n) ? (n as Group) : groupOf[n];
          return g ?? usage(`unknown figure or group "${n}"`);
        }),
      );
    } else if (a === '--seconds') seconds = Number(value());
    else if (a === '--warmup') warmup = Number(value());
    else if (a === '--validators') validators = Number(value());
    else if (a === '--fleet-validators') fleetValidators = Number(value());
    else if (a === '--fleet-stores') {
      const list = value().split(',').filter(Boolean);
      fleetStoresRun = list.map((n) => ((fleetStores as readonly string[]).includes(n) ? (n as FleetStore) : usage(`unknown fleet store "${n}"`)));
    }
    else usage(`unknown option ${a}`);
  }
  if (!Number.isFinite(seconds) || seconds <= 0) usage('--seconds must be positive');
  if (!Number.isFinite(warmup) || warmup < 0) usage('--warmup must be zero or more');
  if (!Number.isInteger(validators) || validators < 20) usage('--validators must be a whole number of at least 20 (more than the connections)');
  if (!Number.isInteger(fleetValidators) || fleetValidators < 1000 || fleetValidators % 100 !== 0) usage('--fleet-validators must be a whole number of hundreds, at least 1000 (pods of 100 keys, more pods than connections)');
  return { json, profile, only, seconds, warmup, validators, fleetValidators, fleetStores: fleetStoresRun };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const has = (g: Group) => args.only.has(g);
  const settings: LoadSettings = { ...defaultLoad, seconds: args.seconds };
  const figures: Figures = {};
  const started = performance.now();

  // Each floor is measured right before the load it is the baseline of (the
  // broker child idle), so the ratio holds up on a machine shared with others.
  if (has('grant') || has('renew')) {
    const r = await brokerLoad({
      validators: args.validators,
      settings: { ...settings, warmupSeconds: args.warmup },
      only: new Set([...(has('grant') ? (['grant'] as const) : []), ...(has('renew') ? (['renew'] as const) : [])]),
      profile: args.profile,
      beforeLoad: async (phase) => {
        if (phase === 'grant') figures.crypto_floor_per_s = await cryptoFloor(3);
        else figures.renew_floor_per_s = await renewFloor(3);
      },
    });
    if (r.grant) {
      figures.grant_issue_per_s = r.grant.perSecond;
      figures.grant_p50_ms = r.grant.p50;
      figures.grant_p99_ms = r.grant.p99;
      const floor = figures.crypto_floor_per_s;
      figures.grant_vs_floor = typeof floor === 'number' && floor > 0 ? round(r.grant.perSecond / floor, 3) : null;
      figures.grant_ceiling_per_s = r.grantCeiling?.perSecond ?? null;
      figures.grant_vs_ceiling = ratio(r.grant.perSecond, figures.grant_ceiling_per_s);
      figures.grant_cpu_ms_per_request = { broker: r.grant.cpuMsPerRequest ?? null, ceiling: r.grantCeiling?.cpuMsPerRequest ?? null };
      figures.grant_main_thread_ms_per_request = { broker: r.grant.mainThreadMsPerRequest ?? null, ceiling: r.grantCeiling?.mainThreadMsPerRequest ?? null };
      figures.rss_mb = r.rssMb ?? null;
    }
    if (r.renew) {
      figures.renew_per_s = r.renew.perSecond;
      const floor = figures.renew_floor_per_s;
      figures.renew_vs_floor = typeof floor === 'number' && floor > 0 ? round(r.renew.perSecond / floor, 3) : null;
      figures.renew_ceiling_per_s = r.renewCeiling?.perSecond ?? null;
      figures.renew_vs_ceiling = ratio(r.renew.perSecond, figures.renew_ceiling_per_s);
      figures.renew_cpu_ms_per_request = { broker: r.renew.cpuMsPerRequest ?? null, ceiling: r.renewCeiling?.cpuMsPerRequest ?? null };
      figures.renew_main_thread_ms_per_request = { broker: r.renew.mainThreadMsPerRequest ?? null, ceiling: r.renewCeiling?.mainThreadMsPerRequest ?? null };
    }
  }
  if (has('crypto') && figures.crypto_floor_per_s === undefined) figures.crypto_floor_per_s = await cryptoFloor(3);
  if (has('crypto') && figures.renew_floor_per_s === undefined) figures.renew_floor_per_s = await renewFloor(3);
  if (has('hello')) figures.hono_hello_per_s = (await helloLoad(settings)).perSecond;

  if (has('ledger')) figures.ledger_append_per_s = await ledgerAppend(3);
  if (has('verify') || has('audit')) {
    const l = await largeLedger({ chains: 1000, perChain: 1000, queries: 200, verify: has('verify'), audit: has('audit') });
    if (has('verify')) figures.ledger_verify_per_s = l.verifyPerSecond;
    if (has('audit')) figures.audit_query_p99_ms = l.auditP99Ms;
  }
  if (has('store-calls')) figures.store_calls_per_renew = await storeCallsPerRenew(200);
  if (has('fleet')) {
    const day = await fleetDay();
    figures.store_calls_per_validator_day_held = day.held;
    figures.store_calls_per_validator_day_standby = day.standby;
    figures.store_calls_per_validator_day_held_many_keys = day.heldMany;
    figures.store_calls_per_validator_day_standby_many_keys = day.standbyMany;
    figures.keys_per_pod = day.keysPerPod;
    figures.store_calls_per_promotion = day.promotion;
    figures.ledger_entries_per_validator_day = {
      held: day.held.ledger_entries,
      standby: day.standby.ledger_entries,
      held_many_keys: day.heldMany.ledger_entries,
      standby_many_keys: day.standbyMany.ledger_entries,
    };
    // The target is for the deployment operators run: many keys per validator client pod.
    const many = costPerValidatorMonth(day, 'many');
    const one = costPerValidatorMonth(day, 'one');
    figures.cost_per_validator_month = { aws: round(many.aws.beyondSecret, 4), gcp: round(many.gcp.beyondSecret, 4) };
    figures.cost_per_validator_month_one_key_per_pod = { aws: round(one.aws.beyondSecret, 4), gcp: round(one.gcp.beyondSecret, 4) };
    figures.cost_secret_per_validator_month = { aws: many.aws.secret, gcp: many.gcp.secret };
    // Included in both figures above: the validator's share of the checkpoint chain, in a deployment's twelfth month.
    figures.cost_checkpoints_per_validator_month = { aws: round(many.aws.checkpoints, 4), gcp: round(many.gcp.checkpoints, 4), bytes_per_head: round(day.checkpointBytesPerHead, 1) };
    for (const [pods, cost] of [[`${day.keysPerPod} keys per pod`, many], ['1 key per pod', one]] as const) {
      for (const [cloud, c] of Object.entries(cost)) {
        progress(`cost per validator-month on ${cloud}, ${pods}, beyond the secret: $${c.beyondSecret.toFixed(4)} (held $${c.held.toFixed(4)}, standby $${c.standby.toFixed(4)}, promotions $${c.promotions.toFixed(4)}, checkpoints $${c.checkpoints.toFixed(4)}); the secret $${c.secret}`);
      }
    }
  }
  if (has('cold-start')) Object.assign(figures, await coldStarts(11, { profile: args.profile }));
  if (has('handoff')) {
    figures.handoff_planned_ms = await handoffPlanned();
    figures.handoff_waiting_ms = await handoffWaiting();
    Object.assign(figures, await chainHandoffs());
  }
  if (has('fleet-renew')) Object.assign(figures, await fleetRenew(args.fleetValidators, settings, args.fleetStores));

  progress(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (args.json) process.stdout.write(`${JSON.stringify({ ...figures, ...(Object.keys(notes).length ? { notes } : {}) })}\n`);
  else process.stdout.write(`${table(figures)}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench failed: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
