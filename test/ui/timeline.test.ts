// The timeline page in headless Chromium (Debian's `chromium`, driven by
// playwright-core): a broker on loopback with a SQLite ledger, one validator
// moved for real through a takeover, a denial and a promotion, another
// seeded straight into the ledger with two holdings at once and hostile
// text; the page opened through `keyhold ui --print-url`, and its drawing
// read back and compared with the holders API and the ledger.

import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerDraft } from '../../src/core/ledger';
import { fetchGrant, importValidator, operatorHeaders, pod, promote, release, slot0, slot1 } from '../http/helpers';
import { cliRig, type CliRig } from '../support/cli';

const chromiumPath = ((): string | null => {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
})();
// CI installs chromium (.ci/run): there its absence is a failure, not a skip.
const inCi = Boolean(process.env.CI);
export const artifacts = join(import.meta.dirname, '..', '..', 'test-artifacts');

const hostilePod = '<img src=x onerror="window.__pwned=1">';
const hostileReason = '<script>window.__pwned=2</script>';

interface Drawn {
  validator: string | null;
  epoch: string | null;
  from: string | null;
  to: string | null;
  pod: string | null;
}

async function movedForReal(rig: CliRig): Promise<void> {
  const b = rig.b;
  await importValidator(b);
  const a = await pod(slot0);
  const first = (await (await fetchGrant(b, a)).json()) as { grant: string };
  b.clock.advance(30_000);
  const a2 = await pod(slot0); // the pod restarted: a takeover, held back until the old one says it stopped
  expect((await fetchGrant(b, a2)).status).toBe(425);
  b.clock.advance(5_000);
  expect((await release(b, a, first.grant)).status).toBe(200);
  b.clock.advance(5_000);
  const second = (await (await fetchGrant(b, a2)).json()) as { grant: string; epoch: number };
  expect(second.epoch).toBe(2);
  b.clock.advance(60_000);
  expect((await fetchGrant(b, await pod(slot1))).status).toBe(403); // not designated: a denial
  b.clock.advance(5_000);
  expect((await promote(b, slot1)).status).toBe(200);
  b.clock.advance(5_000);
  expect((await release(b, a2, second.grant)).status).toBe(200);
  b.clock.advance(5_000);
  expect((await fetchGrant(b, await pod(slot1))).status).toBe(201);
  // A pod asking for an id that was never imported: a denial in the ledger naming no validator there is.
  expect((await fetchGrant(b, await pod(slot0), 'nobody')).status).toBe(403);
}

/** Straight into the ledger store (which seals the hashes): what no broker decides, a holder acknowledging after its successor began. */
async function overlapping(rig: CliRig, t: number): Promise<void> {
  const base = { chain: 'v2', validator: 'v2', slot: 'eu1/validators/v2-0', reason: null, details: {} };
  const e = (time: number, action: LedgerDraft['action'], epoch: number, actor: string, extra: Partial<LedgerDraft> = {}): LedgerDraft => ({ ...base, time, action, epoch, actor, ...extra });
  await rig.b.parts.state.commit({
    entries: [
      e(t, 'grant_issued', 1, `pod:${hostilePod}`),
      e(t + 20_000, 'takeover', 2, 'pod:second'),
      e(t + 30_000, 'store_fallback', 2, 'pod:second', { reason: hostileReason, details: { store: 'aws', servedBy: 'gcp' } }),
      e(t + 60_000, 'grant_issued', 2, 'pod:second'),
      e(t + 120_000, 'fenced_ack', 1, `pod:${hostilePod}`),
    ],
  });
}

async function api<T>(rig: CliRig, path: string): Promise<T> {
  rig.b.clock.t = Math.max(rig.b.clock.t, Date.now());
  // A request token is bound to the path with its query.
  const res = await rig.b.app.request(path, { headers: await operatorHeaders(rig.b, 'GET', path) });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

const markKinds = ['promoted', 'takeover', 'fenced_ack', 'denied', 'store_fallback', 'cache_served'];

describe.skipIf(!chromiumPath && !inCi)(chromiumPath ? 'the timeline page in Chromium' : 'the timeline page in Chromium (skipped: no `chromium` on PATH; apt-get install chromium)', () => {
  let rig: CliRig;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    if (!chromiumPath) throw new Error('CI must have Debian chromium: .ci/run installs it');
    rig = await cliRig();
    // Seeded in the past, so the CLI's real-clock request tokens later stay fresh.
    const start = Date.now() - 15 * 60_000;
    rig.b.clock.t = start;
    await movedForReal(rig);
    await overlapping(rig, start + 300_000);
    profile = await mkdtemp(join(tmpdir(), 'keyhold-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      // A refused fetch is logged too (the id that is no validator answers 404): the page handles those; CSP violations and script errors are what count.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
    });
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    rig?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  let url: string;

  it('logs in with the code from keyhold ui --print-url and draws every holding the holders API answers', async () => {
    const printed = await rig.cli(['ui', '--print-url']);
    expect(printed.code).toBe(0);
    url = printed.stdout.trim();
    await page.goto(url);
    await page.waitForSelector('body[data-state="ready"], body[data-state="refused"], body[data-state="failed"]', { timeout: 30_000 });
    expect(await page.textContent('#status')).toMatch(/^3 validators, 5 holdings\.$/);
    // The code is gone from the address bar (and so from the history) once traded.
    expect(page.url()).not.toContain('#code=');

    const bars = await page.$$eval('rect.interval', (els) =>
      els.map((e) => ({ validator: e.getAttribute('data-validator'), epoch: e.getAttribute('data-epoch'), from: e.getAttribute('data-from'), to: e.getAttribute('data-to'), pod: e.getAttribute('data-pod') })),
    );
    const expected: Drawn[] = [];
    for (const v of ['v1', 'v2']) {
      const { intervals } = await api<{ intervals: { validator: string; epoch: number; from: number; to: number | null; pod: string }[] }>(rig, `/v1/audit/holders?validator=${v}`);
      expected.push(...intervals.map((i) => ({ validator: i.validator, epoch: String(i.epoch), from: String(i.from), to: i.to === null ? '' : String(i.to), pod: i.pod })));
    }
    expect(bars).toEqual(expected);
    expect(bars.map((b) => `${b.validator}:${b.epoch}`)).toEqual(['v1:1', 'v1:2', 'v1:3', 'v2:1', 'v2:2']);
    expect(bars.at(-1)!.to).toBe('');
    // Epochs get their own colours.
    const fills = await page.$$eval('g[data-validator="v1"] rect.interval', (els) => els.map((e) => e.getAttribute('fill')));
    expect(new Set(fills).size).toBe(3);
  });

  it('marks the ledger\'s decisions in time order, and overlaps only where two holdings run at once', async () => {
    const kinds = (v: string) => page.$$eval(`g[data-validator="${v}"] [data-mark]:not([data-mark="overlap"])`, (els) => els.map((e) => e.getAttribute('data-mark')));
    expect(await kinds('v1')).toEqual(['takeover', 'fenced_ack', 'denied', 'promoted', 'fenced_ack']);
    expect(await kinds('v2')).toEqual(['takeover', 'store_fallback', 'fenced_ack']);
    // The id never imported: its denial, no holdings, and a note saying why.
    expect(await kinds('nobody')).toEqual(['denied']);
    expect(await page.getAttribute('g[data-validator="nobody"] .row-note', 'data-note')).toBe('not a validator');
    // The same marks the ledger query API holds, in the same order.
    const { entries } = await api<{ entries: { action: string; validator: string | null; time: number }[] }>(rig, '/v1/audit?validator=v1&limit=1000');
    expect(await kinds('v1')).toEqual(entries.filter((e) => markKinds.includes(e.action)).map((e) => e.action));
    const times = await page.$$eval('g[data-validator="v1"] [data-mark]', (els) => els.map((e) => Number(e.getAttribute('data-time'))));
    expect(times).toEqual([...times].sort((a, b) => a - b));

    expect(await page.$$('g[data-validator="v1"] [data-mark="overlap"]')).toHaveLength(0);
    const overlaps = await page.$$eval('[data-mark="overlap"]', (els) => els.map((e) => ({ from: e.getAttribute('data-from'), to: e.getAttribute('data-to'), epochs: e.getAttribute('data-epochs'), fill: getComputedStyle(e).fill })));
    const v2 = (await api<{ intervals: { from: number; to: number | null }[] }>(rig, '/v1/audit/holders?validator=v2')).intervals;
    expect(overlaps).toEqual([{ from: String(v2[1]!.from), to: String(v2[0]!.to), epochs: '1,2', fill: 'rgb(224, 0, 0)' }]);
  });

  it('draws hostile ledger text as text', async () => {
    expect(await page.$$('img')).toHaveLength(0);
    expect(await page.$$('#chart script')).toHaveLength(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    const labels = await page.$$eval('g[data-validator="v2"] text.interval-label', (els) => els.map((e) => e.textContent));
    expect(labels).toContain(`e1 ${hostilePod}`);
    const bar = page.locator('g[data-validator="v2"] rect.interval[data-epoch="1"]');
    expect(await bar.getAttribute('data-pod')).toBe(hostilePod);
    expect(await bar.locator('title').textContent()).toContain(`pod ${hostilePod}`);
    const titles = await page.$$eval('g[data-validator="v2"] [data-mark="store_fallback"] title', (els) => els.map((e) => e.textContent ?? ''));
    expect(titles[0]).toContain(hostileReason);
    await mkdir(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'timeline.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('refuses the same link a second time, and a page opened without a code', async () => {
    const again = await context.newPage();
    try {
      await again.goto(url);
      await again.waitForSelector('body[data-state="refused"]', { timeout: 30_000 });
      expect(await again.getAttribute('body', 'data-code')).toBe('login_code_used');
      expect(await again.$$('rect.interval')).toHaveLength(0);
      await again.goto(new URL('/ui', url).href);
      await again.waitForSelector('body[data-state="refused"]', { timeout: 30_000 });
      expect(await again.textContent('#status')).toContain('run keyhold ui');
    } finally {
      await again.close();
    }
  });
});
