// Runs one function bundle in a fresh process and prints its first answer
// (to /healthz, or BENCH_METHOD BENCH_PATH) as one JSON line, then exits. The
// bench times this process from spawn to that line: the runtime's own load,
// module load, init and the first request, as a cold start. With
// BENCH_WARM=1 it then sends the same request again and reports how long the
// warm process took (`warmMs`), for the cold grant's floor.
//
//   node function-runner.mjs aws-lambda <bundle.mjs>   lambda-local runs handler(event) with a Function URL event
//   node function-runner.mjs gcp <bundle.mjs> [export]  functions-framework's server (or an exported (req, res) handler)
import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';
import process from 'node:process';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const [kind, bundle, exportName] = process.argv.slice(2);
const path = process.env.BENCH_PATH ?? '/healthz';
const method = process.env.BENCH_METHOD ?? 'GET';
const body = process.env.BENCH_BODY ?? '';
const headers = JSON.parse(process.env.BENCH_HEADERS ?? '{}');
// The platform's runtime is loaded before the function's module, as Lambda's bootstrap is.
const lambdaLocal = kind === 'aws-lambda' ? await import('lambda-local') : undefined;
const mod = await import(pathToFileURL(bundle).href);

const pick = (names) => {
  for (const n of names) if (typeof mod[n] === 'function') return mod[n];
  const first = Object.values(mod).find((v) => typeof v === 'function');
  if (!first) throw new Error(`${bundle} exports no function`);
  return first;
};

if (kind === 'aws-lambda') {
  const now = new Date();
  const host = 'bench.lambda-url.us-east-1.on.aws';
  const event = {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host, 'user-agent': 'keyhold-bench', ...headers, ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
    requestContext: {
      accountId: 'anonymous',
      apiId: 'bench',
      domainName: host,
      domainPrefix: 'bench',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'keyhold-bench' },
      requestId: 'bench-1',
      routeKey: '$default',
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(body ? { body } : {}),
    isBase64Encoded: false,
  };
  const handler = pick(['handler']);
  const invoke = () => lambdaLocal.execute({ event, lambdaFunc: { handler }, lambdaHandler: 'handler', timeoutMs: 25_000, verboseLevel: 0 });
  const res = await invoke();
  // BENCH_WARM=1: the same request once more in the now warm process, timed here.
  let warmMs;
  if (process.env.BENCH_WARM === '1') {
    const t = performance.now();
    const again = await invoke();
    warmMs = again?.statusCode === res?.statusCode ? performance.now() - t : null;
  }
  process.stdout.write(`${JSON.stringify({ status: res?.statusCode ?? null, body: String(res?.body ?? '').slice(0, 300), ...(warmMs === undefined ? {} : { warmMs }) })}\n`);
  process.exit(0);
} else if (kind === 'gcp') {
  // The real entry registers itself with functions-framework (kept external
  // in the bundle, so this import shares its registry); a hello bundle exports
  // a plain listener.
  const exported = Object.values(mod).some((v) => typeof v === 'function');
  const server = exported
    ? createServer(pick(exportName ? [exportName] : ['keyhold', 'handler', 'app']))
    : (await import('@google-cloud/functions-framework/testing')).getTestServer(exportName ?? 'keyhold');
  server.listen(0, '127.0.0.1', async () => {
    const { port } = server.address();
    const send = async () => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers, ...(body ? { body } : {}) });
      return { status: r.status, body: await r.text() };
    };
    const first = await send();
    let warmMs;
    if (process.env.BENCH_WARM === '1') {
      const t = performance.now();
      const again = await send();
      warmMs = again.status === first.status ? performance.now() - t : null;
    }
    process.stdout.write(`${JSON.stringify({ status: first.status, body: first.body.slice(0, 300), ...(warmMs === undefined ? {} : { warmMs }) })}\n`);
    process.exit(0);
  });
} else {
  console.error(`unknown kind ${kind}`);
  process.exit(2);
}
