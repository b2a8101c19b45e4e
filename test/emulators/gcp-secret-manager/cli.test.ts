// The standalone form other processes use: `npm run emulator -- gcp-secret-manager`.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { clientFor, createSecret, secretPath } from './harness';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

describe('standalone CLI', () => {
  it('prints one JSON line with the address, and serves the official client there', async () => {
    // Own process group, so that killing it also ends tsx's node child under npx.
    const child = spawn('npx', ['tsx', 'test/emulators/cli.ts', 'gcp-secret-manager', '--port', '0'], {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      const firstLine = await new Promise<string>((resolve, reject) => {
        const lines = createInterface({ input: child.stdout });
        lines.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`emulator exited with ${code}: ${stderr}`)));
      });
      const printed = JSON.parse(firstLine) as Record<string, unknown>;
      expect(printed.emulator).toBe('gcp-secret-manager');
      expect(printed.address).toMatch(/^127\.0\.0\.1:\d+$/);
      const port = Number(String(printed.address).split(':')[1]);
      expect(printed.port).toBe(port);

      const client = clientFor(port);
      try {
        await createSecret(client, 'from-cli');
        const [secret] = await client.getSecret({ name: secretPath('from-cli') }, { timeout: 5_000 });
        expect(secret.name).toMatch(/\/secrets\/from-cli$/);
      } finally {
        await client.close();
      }
    } finally {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGTERM');
      await exited;
    }
  });
});
