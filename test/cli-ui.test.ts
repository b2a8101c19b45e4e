// `keyhold ui`: the CLI's own operator credential buys a one-time login code
// for the timeline page, printed as a URL or handed to the browser.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRig, type CliRig } from './support/cli';

let rig: CliRig;
beforeAll(async () => {
  rig = await cliRig();
});
afterAll(() => rig.close());

const trade = (url: URL) =>
  fetch(new URL('/v1/ui/sessions', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: url.hash.replace(/^#code=/, '') }) });

describe('keyhold ui', () => {
  it('--print-url prints the page URL on this broker with a code that logs in once', async () => {
    const r = await rig.cli(['ui', '--print-url']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const url = new URL(r.stdout.trim());
    expect(`${url.origin}${url.pathname}`).toBe(`${rig.env.KEYHOLD_URL}/ui`);
    expect(url.hash).toMatch(/^#code=[\w-]+\.[\w-]+\.[\w-]+$/);
    const first = await trade(url);
    expect(first.status).toBe(201);
    expect(await first.json()).toMatchObject({ operator: 'alice' });
    const second = await trade(url);
    expect(second.status).toBe(409);
    expect(await second.json()).toMatchObject({ code: 'login_code_used' });
  });

  it('hands the URL to the browser instead of printing it, and says how to go on when there is none', async () => {
    const opened: string[] = [];
    const r = await rig.cli(['ui'], { openUrl: async (u) => void opened.push(u) });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/opening the timeline page in a browser \(if none opens, run keyhold ui --print-url\); its login code works once, until \d{4}-/);
    expect(opened).toHaveLength(1);
    expect((await trade(new URL(opened[0]!))).status).toBe(201);

    const none = await rig.cli(['ui'], {
      openUrl: async () => {
        throw new Error('no display');
      },
    });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('keyhold ui --print-url');
  });

  it('needs the operator credential', async () => {
    const r = await rig.cli(['ui', '--print-url'], { env: { KEYHOLD_OPERATOR_CREDENTIAL: `${rig.dir}/missing.json` } });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });
});
