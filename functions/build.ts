// `npm run build`: one bundle per cloud, for infra/terraform.
//
//   dist/aws-lambda/aws-lambda.mjs (+ chunks/)   handler aws-lambda.handler
//   dist/aws-lambda.zip                          when the `zip` command exists
//   dist/gcp/index.mjs (+ chunks/, package.json) entry point keyhold
//   dist/openapi.json                            the HTTP API (OpenAPI 3.1), as GET /openapi.json serves it
//
// Which stores a bundle can serve: src/stores/registry.ts maps every store
// name to a factory behind `await import('./<backend>/...')`, so an instance
// loads only the SDKs it is configured for. esbuild still follows every
// dynamic import, so each target lists the backend folders it may contain and
// the `narrowRegistry` plugin resolves the registry's imports of any other
// backend to a stub that refuses the configuration by name. The registry stays
// the one list of stores; a target only says which of them it ships. The
// imports that remain become lazy chunks (splitting + esm), so an SDK is
// still loaded on first use. Other stores for one target, for example the
// AWS stores in the GCP function when DynamoDB is the shared authority:
//
//   npm run build -- --gcp-stores=firestore,gcp-secret-manager,dynamodb,aws-secrets-manager

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';
import { openApiDocument } from '../src/http/openapi';
import { deployRuntime } from './runtime';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const registryFile = join(root, 'src/stores/registry.ts');
const configFile = join(root, 'src/config.ts');

export type TargetName = 'aws-lambda' | 'gcp';

interface Target {
  readonly entry: string;
  /** Output file name without extension: what the platform's handler setting names. */
  readonly entryName: string;
  /** Backend folders under src/stores/ this bundle contains ("vault" also covers "vault-*"). */
  readonly stores: readonly string[];
  /** Left to the platform: functions-framework must be the very module that runs the function. */
  readonly external: readonly string[];
}

export const targets: Record<TargetName, Target> = {
  'aws-lambda': { entry: 'functions/aws-lambda.ts', entryName: 'aws-lambda', stores: ['dynamodb', 'aws-secrets-manager', 'vault', 's3-witness'], external: [] },
  gcp: { entry: 'functions/gcp.ts', entryName: 'index', stores: ['firestore', 'gcp-secret-manager', 'vault', 'gcs-witness'], external: ['@google-cloud/functions-framework'] },
};

/** Output name of the EIP-2335 check worker, beside each bundle's entry file. */
export const materialWorkerName = 'check-worker';

const storeAllowed = (stores: readonly string[], backend: string) => stores.some((s) => backend === s || backend.startsWith(`${s}-`));

/** Resolve the registry's dynamic imports of backends outside `stores` to a stub that refuses them. */
export function narrowRegistry(target: TargetName, stores: readonly string[]): Plugin {
  return {
    name: 'keyhold-narrow-registry',
    setup(b) {
      b.onResolve({ filter: /^\.\/[^/]+\// }, (args) => {
        if (args.importer !== registryFile || args.kind !== 'dynamic-import') return undefined;
        const backend = args.path.split('/')[1]!;
        if (storeAllowed(stores, backend)) return undefined;
        return { path: backend, namespace: 'keyhold-excluded-store' };
      });
      b.onLoad({ filter: /.*/, namespace: 'keyhold-excluded-store' }, (args) => ({
        resolveDir: root,
        loader: 'ts',
        // Thrown when the store is first used, i.e. while composing: the
        // function answers 503 and logs this, which says how to rebuild.
        contents: `import { ConfigError } from ${JSON.stringify(configFile)};
throw new ConfigError(${JSON.stringify(
          `the store backend "${args.path}" is not in this ${target} bundle (it has: ${stores.join(', ')}); choose one of those in KEYHOLD_STATE_STORE / KEYHOLD_KEY_STORES, or rebuild with npm run build -- --${target === 'gcp' ? 'gcp' : 'aws'}-stores=${[...stores, args.path].join(',')}`,
        )});`,
      }));
    },
  };
}

/**
 * `await import('a-commonjs-package')` from project code: Node gives the
 * package's named exports (found by cjs-module-lexer), but across an esbuild
 * chunk boundary the namespace holds only `default`, so
 * `const { SecretManagerServiceClient } = await import(...)` would be
 * undefined in the bundle alone. Such imports get a small module that
 * re-exports each name, listed by loading the package here once.
 */
export function namedExportsForLazyCommonJs(): Plugin {
  return {
    name: 'keyhold-lazy-commonjs',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.kind !== 'dynamic-import' || args.namespace !== 'file' || args.importer.includes('/node_modules/')) return undefined;
        const r = await b.resolve(args.path, { kind: 'import-statement', resolveDir: args.resolveDir });
        if (r.errors.length > 0 || r.external || !isCommonJs(r.path)) return undefined;
        return { path: r.path, namespace: 'keyhold-lazy-commonjs' };
      });
      b.onLoad({ filter: /.*/, namespace: 'keyhold-lazy-commonjs' }, (args) => {
        const names = Object.keys(createRequire(args.path)(args.path) as object).filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n));
        return {
          resolveDir: dirname(args.path),
          contents: [`import * as ns from ${JSON.stringify(args.path)};`, 'export default ns.default;', ...names.map((n) => `export const ${n} = ns.${n};`)].join('\n'),
        };
      });
    },
  };
}

function isCommonJs(file: string): boolean {
  if (file.endsWith('.cjs')) return true;
  if (!file.endsWith('.js')) return false;
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { type?: string }).type !== 'module';
    } catch {
      // no package.json here: look further up
    }
  }
  return true;
}

/**
 * zod's namespace re-exports every locale's error messages (about 260 KiB of
 * the bundle, parsed at every cold start) although it only configures
 * English; the broker's messages are its own. The locale index resolves to
 * English alone, so `z.locales.en` is all there is.
 */
export function englishZodOnly(): Plugin {
  return {
    name: 'keyhold-zod-english',
    setup(b) {
      b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
        if (!/node_modules[\\/]zod[\\/]v4[\\/](classic|core)[\\/]/.test(args.importer)) return undefined;
        return { path: join(dirname(args.importer), '..', 'locales', 'en.js'), namespace: 'keyhold-zod-english' };
      });
      b.onLoad({ filter: /.*/, namespace: 'keyhold-zod-english' }, (args) => ({ resolveDir: dirname(args.path), contents: "export { default as en } from './en.js';" }));
    },
  };
}

// CommonJS dependencies (the cloud SDKs) call require and read __dirname;
// an ES module has neither, so each output file defines them.
const banner = [
  "import { createRequire as __keyholdCreateRequire } from 'node:module';",
  "import { fileURLToPath as __keyholdFileUrlToPath } from 'node:url';",
  "import { dirname as __keyholdDirname } from 'node:path';",
  'const require = __keyholdCreateRequire(import.meta.url);',
  'const __filename = __keyholdFileUrlToPath(import.meta.url);',
  'const __dirname = __keyholdDirname(__filename);',
].join('\n');

export interface Built {
  readonly target: TargetName;
  readonly outdir: string;
  /** The entry file, absolute. */
  readonly entry: string;
  readonly metafile: Metafile;
}

export async function buildTarget(target: TargetName, opts: { outdir: string; stores?: readonly string[] }): Promise<Built> {
  const t = targets[target];
  const stores = opts.stores ?? t.stores;
  await rm(opts.outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: root,
    // The import checks' worker thread (src/material/verifier.ts finds it beside the entry).
    entryPoints: { [t.entryName]: join(root, t.entry), [materialWorkerName]: join(root, 'src/material/check-worker.ts') },
    outdir: opts.outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: deployRuntime.esbuildTarget,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    minify: true,
    // Error names reach the logs (the redactor keeps only name and code).
    keepNames: true,
    treeShaking: true,
    sourcemap: true,
    sourcesContent: false,
    legalComments: 'none',
    external: [...t.external],
    banner: { js: banner },
    metafile: true,
    logLevel: 'warning',
    // protobufjs probes for optional modules with eval; harmless here.
    logOverride: { 'direct-eval': 'silent' },
    plugins: [narrowRegistry(target, stores), namedExportsForLazyCommonJs(), englishZodOnly()],
  });
  if (target === 'gcp') {
    // The source upload Cloud Build installs: only functions-framework, at the version tested here.
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const ff = '@google-cloud/functions-framework';
    await writeFile(
      join(opts.outdir, 'package.json'),
      `${JSON.stringify({ name: 'keyhold-gcp-function', private: true, type: 'module', main: 'index.mjs', engines: { node: `>=${deployRuntime.nodeMajor}` }, dependencies: { [ff]: pkg.dependencies[ff] } }, null, 2)}\n`,
    );
  }
  return { target, outdir: opts.outdir, entry: join(opts.outdir, `${t.entryName}.mjs`), metafile: result.metafile };
}

/** Where an input came from: its npm package, or the project file. */
export function inputOwner(path: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path.slice(path.lastIndexOf('node_modules/')));
  return m?.[1] ?? path;
}

/** The npm packages (and project files) that ended up in a bundle. */
export function bundledInputs(metafile: Metafile): Set<string> {
  return new Set(Object.keys(metafile.inputs).map(inputOwner));
}

/** Bytes a cold start loads (the entry and the chunks it imports statically) and bytes loaded only on first use. */
export function startupBytes(built: Built): { atStart: number; lazy: number } {
  const outputs = built.metafile.outputs;
  const key = Object.keys(outputs).find((f) => resolve(root, f) === built.entry);
  const seen = new Set<string>();
  for (const stack = key ? [key] : []; stack.length > 0; ) {
    const f = stack.pop()!;
    if (seen.has(f) || !outputs[f]) continue;
    seen.add(f);
    for (const i of outputs[f].imports) if (i.kind === 'import-statement' && !i.external) stack.push(i.path);
  }
  const js = Object.entries(outputs).filter(([f]) => f.endsWith('.mjs'));
  const atStart = js.filter(([f]) => seen.has(f)).reduce((n, [, o]) => n + o.bytes, 0);
  return { atStart, lazy: js.reduce((n, [, o]) => n + o.bytes, 0) - atStart };
}

export function sizeReport(built: Built, top = 8): string {
  const outputs = Object.entries(built.metafile.outputs).filter(([f]) => f.endsWith('.mjs'));
  const total = outputs.reduce((n, [, o]) => n + o.bytes, 0);
  const { atStart, lazy } = startupBytes(built);
  const byOwner = new Map<string, number>();
  for (const [, o] of outputs) {
    for (const [input, { bytesInOutput }] of Object.entries(o.inputs)) {
      const owner = inputOwner(input);
      byOwner.set(owner, (byOwner.get(owner) ?? 0) + bytesInOutput);
    }
  }
  const kb = (n: number) => `${(n / 1024).toFixed(1).padStart(8)} KiB`;
  const lines = [
    `${built.target}: ${relative(root, built.outdir)}  ${kb(total)} in ${outputs.length} files: ${kb(atStart).trim()} loaded at start, ${kb(lazy).trim()} in chunks loaded on first use`,
    ...[...byOwner].sort((a, b) => b[1] - a[1]).slice(0, top).map(([owner, n]) => `  ${kb(n)}  ${owner}`),
  ];
  return lines.join('\n');
}

/** The published contract, beside the bundles it describes. */
export async function writeOpenApi(dist: string): Promise<string> {
  const file = join(dist, 'openapi.json');
  await writeFile(file, `${JSON.stringify(openApiDocument(), null, 2)}\n`);
  return file;
}

function zipIfPossible(dir: string, zipFile: string): boolean {
  try {
    execFileSync('zip', ['-v'], { stdio: 'ignore' });
  } catch {
    return false;
  }
  execFileSync('zip', ['-q', '-r', '-X', zipFile, '.'], { cwd: dir });
  return true;
}

function storesFlag(argv: readonly string[], name: string): string[] | undefined {
  const v = argv.find((a) => a.startsWith(`--${name}-stores=`))?.split('=')[1];
  return v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean);
}

async function main(argv: readonly string[]): Promise<void> {
  const dist = join(root, 'dist');
  await mkdir(dist, { recursive: true });
  const aws = await buildTarget('aws-lambda', { outdir: join(dist, 'aws-lambda'), ...withStores(storesFlag(argv, 'aws')) });
  const gcp = await buildTarget('gcp', { outdir: join(dist, 'gcp'), ...withStores(storesFlag(argv, 'gcp')) });
  const zip = join(dist, 'aws-lambda.zip');
  await rm(zip, { force: true });
  const zipped = zipIfPossible(aws.outdir, zip);
  console.log(sizeReport(aws));
  console.log(zipped ? `  zip: ${relative(root, zip)}` : '  zip: skipped (no zip command; Terraform zips dist/aws-lambda/ itself)');
  console.log(sizeReport(gcp));
  console.log(`openapi: ${relative(root, await writeOpenApi(dist))}`);
}

const withStores = (stores: string[] | undefined) => (stores ? { stores } : {});

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
