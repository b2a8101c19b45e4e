import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { terraform, terraformMissingReason } from './terraform-cli';

const infra = resolve(import.meta.dirname, '../../infra/terraform');

describe('terraform fmt', () => {
  if (terraformMissingReason !== undefined && process.env.CI) {
    it('needs terraform in CI', () => {
      expect.fail(`${terraformMissingReason}; CI machines must have it`);
    });
    return;
  }
  const maybe = terraformMissingReason === undefined ? it : it.skip;
  const suffix = terraformMissingReason === undefined ? '' : ` (skipped: ${terraformMissingReason})`;

  maybe(`infra/terraform is formatted${suffix}`, () => {
    const result = terraform(['fmt', '-check', '-recursive', '-diff', '-no-color', infra], infra);
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });

  maybe(`the check fails on unformatted code${suffix}`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keyhold-fmt-'));
    try {
      await writeFile(join(dir, 'bad.tf'), 'variable "x" {\ntype=string\n  default =   "a"\n}\n');
      const result = terraform(['fmt', '-check', '-recursive', '-no-color', dir], dir);
      expect(result.status).not.toBe(0);
      expect(result.output).toContain('bad.tf');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
