// What `npm start` does on a fresh clone: create the home with private
// files, refuse key files others can read, and let a dev token through.

import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main';
import { composeBroker } from '../src/compose';
import { ConfigError, parseConfig } from '../src/config';
import { homeFiles } from '../src/identity/dev-credentials';
import { memoryLogger } from '../src/log';
import { ephemeralKeyPair } from './support/fixtures';

describe('a fresh home', () => {
  it('gets a KEK, signing keys, a dev issuer and a dev operator, all mode 0600', async () => {
    const home = join(await mkdtemp(join(tmpdir(), 'keyhold-home-')), 'h');
    const broker = await composeBroker(parseConfig({ KEYHOLD_HOME: home }), { logger: memoryLogger() });
    const f = homeFiles(home);
    for (const file of [f.kek, f.signingKeys, f.devIssuerKey, f.operatorCredential]) {
      expect(((await stat(file)).mode & 0o777).toString(8)).toBe('600');
    }
    expect((await stat(f.kek)).size).toBe(32);
    expect(((await stat(home)).mode & 0o777).toString(8)).toBe('700');

    let token = '';
    const code = await runCli(['dev', 'token', '--slot', 'local/validators/v1-0', '--pod-uid', randomUUID()], {
      env: { KEYHOLD_HOME: home },
      stdout: (s) => (token += s),
      stderr: () => {},
      confirm: null,
    });
    expect(code).toBe(0);
    const { publicJwk } = await ephemeralKeyPair();
    const res = await broker.app.request('/v1/grants', {
      method: 'POST',
      headers: { authorization: `Bearer ${token.trim()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ validator: 'v1', ephemeralKey: publicJwk }),
    });
    // Authenticated as the dev pod: the only refusal left is that v1 does not
    // exist yet, answered as for a validator of someone else's (403, not 404).
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'not_designated' });
    await broker.close();

    // Starting again reuses everything; a key file others can read is refused with the fix.
    await chmod(f.kek, 0o644);
    const again = composeBroker(parseConfig({ KEYHOLD_HOME: home }), { logger: memoryLogger() });
    await expect(again).rejects.toThrow(ConfigError);
    await expect(again).rejects.toThrow(/chmod 600/);
  });
});
