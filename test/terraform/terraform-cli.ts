// Runs the terraform binary that comes with the machine image (not from a
// registry). Only commands that need no providers: fmt, and init/plan of a
// directory holding nothing but variables, which evaluates their validations.
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunResult {
  status: number | null;
  /** stdout: what fmt -diff prints; stderr carries machine-level CLI-config warnings. */
  stdout: string;
  output: string;
}

export const terraformAvailable = spawnSync('terraform', ['version'], { stdio: 'ignore' }).error === undefined;

/** Why a terraform test cannot run here, or undefined when it can. In CI a missing binary is a failure, not a skip. */
export const terraformMissingReason = terraformAvailable ? undefined : 'terraform is not installed (it comes with the machine image)';

export function terraform(args: string[], cwd: string): RunResult {
  const result = spawnSync('terraform', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, output: `${result.stdout}${result.stderr}` };
}

/**
 * Plans a copy of a module's variables.tf alone with the given values: no
 * providers are involved, so this runs offline and reports exactly the
 * variable validations that fail.
 */
export async function planVariables(variablesFile: string, values: Record<string, unknown>): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'keyhold-tfvars-'));
  try {
    await copyFile(variablesFile, join(dir, 'variables.tf'));
    await writeFile(join(dir, 'test.auto.tfvars.json'), JSON.stringify(values));
    const init = terraform(['init', '-backend=false', '-input=false', '-no-color'], dir);
    if (init.status !== 0) return init;
    return terraform(['plan', '-input=false', '-lock=false', '-refresh=false', '-no-color'], dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
