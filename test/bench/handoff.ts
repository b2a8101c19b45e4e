// Handoffs with real processes on loopback: pod A (fetch, then keeper with a
// stand-in signer) holds the validator; A's keeper gets SIGTERM, stops the
// signer and lets go; the next pod's fetch exits 0 once the key files are
// written. Two shapes:
//
// - planned (`handoff_planned_ms`): as a StatefulSet replaces a pod, pod B
//   (same slot, new pod UID) starts its fetch once A is gone; from the
//   broker's `released` entry to B's fetch exiting.
// - waiting (`handoff_waiting_ms`): the operator promotes B's slot while A
//   still holds, and B's fetch is already waiting (POST /v1/grants with
//   `wait`, held by the broker); A's keeper acknowledges its fencing on
//   SIGTERM; from the broker's `fenced_ack` entry to B's fetch exiting.
//
// The hooks run as an esbuild bundle of operator-hooks/main.ts, as the
// container image runs them, so tsx start-up is not part of the handoff.

import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { homeFiles, mintDevPodToken, readOperatorCredential, signOperatorRequest } from '../../src/identity/dev-credentials';
import { generatedKeyMaterial, testGenesisRoot } from '../support/fixtures';
import { firstJsonLine, freePort, nodeTs, repoRoot, spawnBounded, type Bounded } from './children';
import { progress, round, unavailable } from './report';

const validator = 'handoff-v1';
const slot = `local/validators/${validator}-0`;
const standbySlot = `local/validators/${validator}-standby-0`;
type Shape = 'planned' | 'waiting';
const figureOf = { planned: 'handoff_planned_ms', waiting: 'handoff_waiting_ms' } as const;

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const handoffPlanned = (): Promise<number | null> => handoff('planned');
export const handoffWaiting = (): Promise<number | null> => handoff('waiting');

async function handoff(shape: Shape): Promise<number | null> {
  const figure = figureOf[shape];
  const main = join(repoRoot, 'operator-hooks', 'main.ts');
  if (!existsSync(main)) return unavailable(figure, 'operator-hooks/main.ts does not exist yet (no keyhold-hook fetch|keeper to run)');
  const home = await mkdtemp(join(tmpdir(), 'keyhold-bench-handoff-'));
  const procs: Bounded[] = [];
  try {
    const hook = join(home, 'keyhold-hook.mjs');
    await build({
      entryPoints: [main],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: hook,
      logLevel: 'error',
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    });

    const broker = nodeTs('broker-child.ts', { env: { KEYHOLD_HOME: join(home, 'broker'), BENCH_MAX_LIFE_MS: '120000' }, lifeMs: 130_000 });
    procs.push(broker);
    const { port } = await firstJsonLine<{ port: number }>(broker, 60_000);
    const url = `http://127.0.0.1:${port}`;
    const brokerHome = join(home, 'broker');
    const cred = await readOperatorCredential(homeFiles(brokerHome).operatorCredential);
    const gen = generatedKeyMaterial();
    const files = Object.fromEntries([...gen.material.files].map(([n, s]) => [n, Buffer.from(s.reveal()).toString('base64')]));
    const keyPath = `/v1/validators/${validator}/key`;
    const imported = await fetch(`${url}${keyPath}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${await signOperatorRequest(cred, 'PUT', keyPath)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ format: 'eip2335', publicId: gen.publicId, files, slots: [slot, standbySlot], serviceAccounts: ['validator'], genesisValidatorsRoot: testGenesisRoot }),
    });
    if (imported.status !== 201) throw new Error(`import: ${imported.status} ${await imported.text()}`);

    const podEnv = async (name: string, podName = `${validator}-0`) => {
      const dir = join(home, name);
      await mkdir(join(dir, 'keys'), { recursive: true, mode: 0o700 });
      const tokenFile = join(dir, 'token');
      await writeFile(tokenFile, await mintDevPodToken(brokerHome, { namespace: 'validators', podName, podUid: randomUUID(), ttlSeconds: 600 }), { mode: 0o600 });
      return { dir, env: { KEYHOLD_URL: url, KEYHOLD_VALIDATOR: validator, KEYHOLD_TOKEN_FILE: tokenFile, KEYHOLD_KEY_DIR: join(dir, 'keys'), KEYHOLD_RETRY_MAX_SECONDS: '1' } };
    };
    const hookEnv = (env: Record<string, string>): NodeJS.ProcessEnv => {
      const clean: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KEYHOLD_')) clean[k] = v;
      return { ...clean, ...env };
    };
    const runFetch = async (env: Record<string, string>) => {
      const spawned = Date.now();
      const f = spawnBounded(process.execPath, [hook, 'fetch'], { env: hookEnv(env), lifeMs: 60_000 });
      procs.push(f);
      const code = await f.exited;
      if (code !== 0) throw new Error(`fetch exited ${code}: ${f.stderrTail()}`);
      return { spawned, done: Date.now(), log: f.stderrTail() };
    };

    // Pod A: fetch, a stand-in signer, the keeper.
    const a = await podEnv('pod-a');
    await runFetch(a.env);
    const signer = spawnBounded('sleep', ['120'], { lifeMs: 125_000 });
    procs.push(signer);
    const pidfile = join(a.dir, 'signer.pid');
    await writeFile(pidfile, String(signer.pid));
    const keeperPort = await freePort();
    const keeper = spawnBounded(process.execPath, [hook, 'keeper'], {
      env: hookEnv({ ...a.env, KEYHOLD_SIGNER_PIDFILE: pidfile, KEYHOLD_KEEPER_PORT: String(keeperPort), KEYHOLD_SIGNER_STOP_GRACE_SECONDS: '5' }),
      lifeMs: 120_000,
    });
    procs.push(keeper);
    await until('the keeper to hold', 30_000, async () => {
      const r = await fetch(`http://127.0.0.1:${keeperPort}/state`);
      const text = await r.text();
      return /holding/.test(text) ? true : null;
    });

    const audit = async (action: string) => {
      const auditPath = `/v1/audit?validator=${validator}&action=${action}`;
      const res = await fetch(`${url}${auditPath}`, { headers: { authorization: `Bearer ${await signOperatorRequest(cred, 'GET', '/v1/audit')}` } });
      return ((await res.json()) as { entries?: { time: number }[] }).entries ?? [];
    };

    let bRun: Promise<{ spawned: number; done: number; log: string }>;
    if (shape === 'waiting') {
      // Promoted while A holds: B is designated but not admitted until A acknowledges.
      const promotePath = `/v1/validators/${validator}/promote`;
      const promoted = await fetch(`${url}${promotePath}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await signOperatorRequest(cred, 'POST', promotePath)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ slot: standbySlot, reason: 'bench: planned handoff to a waiting pod' }),
      });
      if (promoted.status !== 200) throw new Error(`promote: ${promoted.status} ${await promoted.text()}`);
      const b = await podEnv('pod-b', `${validator}-standby-0`);
      bRun = runFetch(b.env);
      bRun.catch(() => undefined);
      // B's first answer (425, ledgered once) is in: its next request is the one the broker holds.
      await until("pod B's first not-yet answer", 30_000, async () => ((await audit('denied')).length > 0 ? true : null));
      await new Promise((r) => setTimeout(r, 500));
    }
    const sigterm = Date.now();
    keeper.child.kill('SIGTERM');
    const keeperCode = await keeper.exited;
    const keeperExit = Date.now();
    // Planned: B starts once A is gone, as a StatefulSet replaces a pod.
    if (shape === 'planned') bRun = runFetch((await podEnv('pod-b')).env);
    const fetchB = await bRun!;

    const action = shape === 'planned' ? 'released' : 'fenced_ack';
    const letGo = (await audit(action)).at(-1);
    if (!letGo) throw new Error(`no ${action} entry in the ledger (keeper exit ${keeperCode})`);
    const ms = fetchB.done - letGo.time;
    progress(
      `${figure}: ${ms} (SIGTERM to ${action} ${letGo.time - sigterm} ms; ${action} to keeper exit ${keeperExit - letGo.time} ms; ` +
        `pod B fetch from spawn to exit ${fetchB.done - fetchB.spawned} ms; keeper exit code ${keeperCode})`,
    );
    if (process.env.BENCH_VERBOSE) process.stderr.write(`pod B fetch log:\n${fetchB.log}\n`);
    return round(ms, 0);
  } catch (e) {
    return unavailable(figure, `the hooks did not complete a handoff: ${(e as Error).message.split('\n').slice(0, 4).join(' / ')}`);
  } finally {
    for (const p of procs.reverse()) await p.stop(2000);
    await rm(home, { recursive: true, force: true });
  }
}
