// `npm run emulator -- <name> [--port N] [--host H]`: run one emulator as a
// standalone process and print one JSON line with its address, so that other
// clients can be pointed at it.
import { parseArgs } from 'node:util';

const emulators: Record<string, (opts: { host: string; port: number }) => Promise<{ close(): Promise<void> }>> = {
  'gcp-secret-manager': async (opts) => (await import('./gcp-secret-manager/server')).startGcpSecretManagerEmulator(opts),
  vault: async (opts) => (await import('./vault/server')).startVaultEmulator(opts),
  gcs: async (opts) => (await import('./gcs/server')).startGcsEmulator(opts),
};

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
});
const name = positionals[0];
const start = name === undefined ? undefined : emulators[name];
if (!start) {
  console.error(`usage: npm run emulator -- <${Object.keys(emulators).join('|')}> [--port N] [--host H]`);
  process.exit(2);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`emulator: --port must be an integer from 0 to 65535, got ${values.port}`);
  process.exit(2);
}
const handle = await start({ host: values.host, port });
const { close: _close, faults: _faults, reset: _reset, ...printable } = handle as { close(): Promise<void> } & Record<string, unknown>;
console.log(JSON.stringify({ emulator: name, ...printable }));
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void handle.close().then(() => process.exit(0)));
