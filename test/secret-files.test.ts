// Key files: refused when every user may read them or others may change
// them; group read is how Kubernetes mounts Secrets (defaultMode 0440).

import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config';
import { readSecretFile } from '../src/files';

describe('readSecretFile', () => {
  it('reads owner-only and group-readable files, refuses world-readable and group-writable ones', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'keyhold-secret-')), 'kek');
    await writeFile(path, 'x');
    for (const mode of [0o600, 0o400, 0o640, 0o440]) {
      await chmod(path, mode);
      expect((await readSecretFile(path, 'KEYHOLD_KEK_FILE')).toString()).toBe('x');
    }
    for (const mode of [0o644, 0o604, 0o660, 0o666]) {
      await chmod(path, mode);
      const e = await readSecretFile(path, 'KEYHOLD_KEK_FILE').catch((err: unknown) => err);
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message).toMatch(new RegExp(`KEYHOLD_KEK_FILE: .* \\(mode ${mode.toString(8)}\\); run chmod 600`));
    }
  });

  it('names the setting when the file is missing', async () => {
    await expect(readSecretFile('/nonexistent/kek', 'KEYHOLD_KEK_FILE')).rejects.toThrow(/KEYHOLD_KEK_FILE: \/nonexistent\/kek does not exist/);
  });
});
