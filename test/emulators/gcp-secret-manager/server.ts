// A stateful Secret Manager (google.cloud.secretmanager.v1) speaking real
// gRPC, built from the service definition that ships inside the official
// client package, so the wire format cannot drift from what the client sends.
// Point the client at it with
//   new SecretManagerServiceClient({ apiEndpoint: '127.0.0.1', port,
//     sslCreds: grpc.credentials.createInsecure(), projectId: 'test-project' })
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { FaultController } from '../faults';
import type { EmulatorHandle, Fault } from '../faults';
import { FrontDoor } from './front-door';
import { RpcError, SecretStore } from './store';
import { messages } from './wire-behaviour';

const SERVICE = 'google.cloud.secretmanager.v1.SecretManagerService';

let serviceDefinition: protoLoader.ServiceDefinition | undefined;

function loadService(): protoLoader.ServiceDefinition {
  if (!serviceDefinition) {
    const json = createRequire(import.meta.url)('@google-cloud/secret-manager/build/protos/protos.json') as Parameters<typeof protoLoader.fromJSON>[0];
    // defaults: false keeps absent fields undefined, so presence (data_crc32c,
    // etag) can be told apart from zero values.
    const pkg = protoLoader.fromJSON(json, { longs: String, enums: String, bytes: Buffer, defaults: false, oneofs: true });
    serviceDefinition = pkg[SERVICE] as protoLoader.ServiceDefinition;
  }
  return serviceDefinition;
}

type Handler = (store: SecretStore, request: never) => object;

// gRPC method name → store operation. Methods of the service missing here
// (IAM, managed rotation) answer UNIMPLEMENTED, after faults, like the rest.
const handlers: Record<string, Handler> = {
  CreateSecret: (s, r) => s.createSecret(r),
  GetSecret: (s, r) => s.getSecret(r),
  UpdateSecret: (s, r) => s.updateSecret(r),
  DeleteSecret: (s, r) => s.deleteSecret(r),
  ListSecrets: (s, r) => s.listSecrets(r),
  AddSecretVersion: (s, r) => s.addSecretVersion(r),
  AccessSecretVersion: (s, r) => s.accessSecretVersion(r),
  GetSecretVersion: (s, r) => s.getSecretVersion(r),
  ListSecretVersions: (s, r) => s.listSecretVersions(r),
  EnableSecretVersion: (s, r) => s.enableSecretVersion(r),
  DisableSecretVersion: (s, r) => s.disableSecretVersion(r),
  DestroySecretVersion: (s, r) => s.destroySecretVersion(r),
};

export async function startGcpSecretManagerEmulator(opts: { host?: string; port?: number } = {}): Promise<EmulatorHandle & { address: string }> {
  const host = opts.host ?? '127.0.0.1';
  const service = loadService();
  const store = new SecretStore();
  const faults = new FaultController();
  const timers = new Set<NodeJS.Timeout>();

  const server = new grpc.Server();
  const door = new FrontDoor(host);

  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of Object.keys(service)) {
    const handler = handlers[method];
    const unary: grpc.handleUnaryCall<unknown, object> = (call, callback) => {
      const serve = () => {
        if (call.cancelled) return;
        if (!handler) {
          callback({ code: grpc.status.UNIMPLEMENTED, details: `${method} is not implemented by the emulator.` });
          return;
        }
        try {
          callback(null, handler(store, call.request as never));
        } catch (err) {
          if (err instanceof RpcError) callback({ code: err.code, details: err.message });
          else callback({ code: grpc.status.INTERNAL, details: `emulator bug: ${(err as Error).message}` });
        }
      };
      applyFault(faults.take(method), call, callback, serve);
    };
    implementation[method] = unary;
  }

  const applyFault = (fault: Fault | undefined, call: grpc.ServerUnaryCall<unknown, object>, callback: grpc.sendUnaryData<object>, serve: () => void) => {
    switch (fault?.kind) {
      case undefined:
        return serve();
      case 'latency': {
        const t = setTimeout(() => {
          timers.delete(t);
          serve();
        }, fault.ms);
        timers.add(t);
        return;
      }
      case 'hang':
        // Never answered; grpc-js drops the call when the client's deadline
        // passes or the connection goes, and close() force-shuts the rest.
        return;
      case 'error':
        return callback({ code: grpc.status.INTERNAL, details: 'Internal error encountered (injected by the emulator).' });
      case 'throttle':
        return callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: messages.throttled });
      case 'reset':
        // A connection that did not come through the relay cannot be aborted
        // from here; UNAVAILABLE is what the client would report for a reset.
        if (!door.resetPeer(call.getPeer())) callback({ code: grpc.status.UNAVAILABLE, details: 'Connection reset (injected by the emulator).' });
        return;
      case 'down':
        // take() never hands out 'down': it is applied to the port below.
        return serve();
    }
  };

  server.addService(service, implementation);
  door.upstreamPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  try {
    await door.open(opts.port ?? 0);
  } catch (err) {
    server.forceShutdown();
    throw err;
  }

  // Port changes are serialised so that a quick down/clear/down sequence ends
  // in the state last asked for.
  let portOps: Promise<void> = Promise.resolve();
  const unsubscribe = faults.onDownChange((down) => {
    if (down) door.shut();
    portOps = portOps.then(() => (faults.isDown() ? door.shut() : door.open())).catch((err: unknown) => {
      console.error(`gcp-secret-manager emulator: could not reopen port ${door.port}:`, err);
    });
  });

  const port = door.port;
  return {
    address: `${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    faults,
    reset: () => store.reset(),
    close: async () => {
      unsubscribe();
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await portOps;
      door.shut();
      server.forceShutdown();
    },
  };
}
