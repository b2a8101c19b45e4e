// Loads Terraform modules as the JSON that @cdktf/hcl2json produces, so the
// least-privilege checks can read the code without providers (no `init`
// here). Blocks are arrays; attribute expressions are strings like
// "${aws_kms_key.keyhold.arn}".
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from '@cdktf/hcl2json';

export type Block = Record<string, unknown>;

export interface Named {
  name: string;
  body: Block;
}

export interface TfConfig {
  resource: Record<string, Record<string, Block[]>>;
  data: Record<string, Record<string, Block[]>>;
  variable: Record<string, Block[]>;
  output: Record<string, Block[]>;
  locals: Record<string, unknown>;
}

export function emptyConfig(): TfConfig {
  return { resource: {}, data: {}, variable: {}, output: {}, locals: {} };
}

export function isBlock(value: unknown): value is Block {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asBlocks(value: unknown): Block[] {
  if (Array.isArray(value)) return value.filter(isBlock);
  return isBlock(value) ? [value] : [];
}

export function asStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

function mergeTyped(into: Record<string, Record<string, Block[]>>, from: unknown): void {
  if (!isBlock(from)) return;
  for (const [type, byName] of Object.entries(from)) {
    if (!isBlock(byName)) continue;
    const target = (into[type] ??= {});
    for (const [name, bodies] of Object.entries(byName)) {
      (target[name] ??= []).push(...asBlocks(bodies));
    }
  }
}

function mergeNamed(into: Record<string, Block[]>, from: unknown): void {
  if (!isBlock(from)) return;
  for (const [name, bodies] of Object.entries(from)) {
    (into[name] ??= []).push(...asBlocks(bodies));
  }
}

function mergeParsed(config: TfConfig, parsed: Record<string, unknown>): void {
  mergeTyped(config.resource, parsed.resource);
  mergeTyped(config.data, parsed.data);
  mergeNamed(config.variable, parsed.variable);
  mergeNamed(config.output, parsed.output);
  for (const locals of asBlocks(parsed.locals)) Object.assign(config.locals, locals);
}

/** Parses one HCL text (a module file or a test snippet). */
export async function parseHcl(contents: string, filename = 'snippet.tf'): Promise<TfConfig> {
  const config = emptyConfig();
  mergeParsed(config, (await parse(filename, contents)) as Record<string, unknown>);
  return config;
}

export async function tfFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.tf')).sort().map((f) => join(dir, f));
}

/** Parses every .tf file of a module directory into one configuration. */
export async function parseModule(dir: string): Promise<TfConfig> {
  const config = emptyConfig();
  for (const file of await tfFiles(dir)) {
    mergeParsed(config, (await parse(file, await readFile(file, 'utf8'))) as Record<string, unknown>);
  }
  return config;
}

export function resources(config: TfConfig, type: string): Named[] {
  return Object.entries(config.resource[type] ?? {}).flatMap(([name, bodies]) => bodies.map((body) => ({ name, body })));
}

export function dataSources(config: TfConfig, type: string): Named[] {
  return Object.entries(config.data[type] ?? {}).flatMap(([name, bodies]) => bodies.map((body) => ({ name, body })));
}

export function firstBlock(body: Block, key: string): Block | undefined {
  return asBlocks(body[key])[0];
}

const LOCAL_REF = /\$\{local\.([A-Za-z0-9_]+)\}/g;
const WHOLE_LOCAL_REF = /^\$\{local\.([A-Za-z0-9_]+)\}$/;

/**
 * Replaces `${local.x}` with the local's own expression, so a check sees the
 * ARN pattern a local stands for. A whole-value reference to a list local
 * becomes that list.
 */
export function resolveLocals(config: TfConfig, value: unknown, depth = 0): unknown {
  if (depth > 8) return value;
  if (Array.isArray(value)) return value.flatMap((v) => {
    const resolved = resolveLocals(config, v, depth + 1);
    return Array.isArray(resolved) ? resolved : [resolved];
  });
  if (typeof value !== 'string') return value;
  const whole = WHOLE_LOCAL_REF.exec(value);
  if (whole?.[1] !== undefined && whole[1] in config.locals) {
    return resolveLocals(config, config.locals[whole[1]], depth + 1);
  }
  const replaced = value.replace(LOCAL_REF, (ref, name: string) => {
    const local = config.locals[name];
    if (typeof local !== 'string') return ref;
    // A local that is a whole expression, "${data.x.y}", inlines as itself.
    return local;
  });
  return replaced === value ? value : resolveLocals(config, replaced, depth + 1);
}
