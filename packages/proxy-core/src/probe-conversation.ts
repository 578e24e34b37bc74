import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Backend, Catalog, Endpoint, MasterCredentials, Protocol } from '@homing/directory';
import { connectBackend } from './backend.js';
import type { Cancellation } from './deadline.js';
import { healthKey } from './health.js';
import { type Dialect, dialects } from './probe-dialects.js';
import { Dialogue, ignore, ProbeError } from './probe-dialogue.js';
import { PROXY_V2_SIGNATURE } from './proxy-protocol.js';
import { sourceAddresses } from './source-addresses.js';
import { backendTlsOptions, connectTls } from './tls.js';

/** One endpoint of one backend, as a probe sees it. */
export interface ProbeTarget {
  readonly key: string;
  readonly backend: Backend;
  readonly protocol: Protocol;
  readonly endpoint: Endpoint;
  readonly login: MasterCredentials | undefined;
}

/** Every endpoint of the catalog worth probing, by `name/protocol`. */
export function probeTargets(
  catalog: Catalog,
  only: ReadonlySet<Protocol> | undefined,
): Map<string, ProbeTarget> {
  const targets = new Map<string, ProbeTarget>();
  for (const name of catalog.names) {
    const backend = catalog.get(name);
    if (!backend) continue;
    const credentials = backend.probeLogin;
    const text = credentials ? `${credentials.user}${credentials.password}` : '';
    if (/[\r\n]/.test(text) || text.includes('\0')) {
      throw new Error(`backend ${name}: the probe login may not contain CR, LF or NUL`);
    }
    const endpoints = Object.entries(backend.endpoints) as [Protocol, Endpoint][];
    for (const [protocol, endpoint] of endpoints) {
      if (only && !only.has(protocol)) continue;
      const key = healthKey(backend.name, protocol);
      const login = dialects[protocol].login ? credentials : undefined;
      targets.set(key, { key, backend, protocol, endpoint, login });
    }
  }
  return targets;
}

// A v2 LOCAL header: "the connection was established on purpose by the proxy without being
// relayed" (proxy-protocol.txt §2.2), for health checks: the backend uses the socket's addresses.
const PROXY_V2_LOCAL = Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);

/** A passed probe: how long it took, and the capability list its greeting was (ManageSieve). */
export interface ProbePass {
  readonly ms: number;
  readonly capabilities: readonly string[] | undefined;
}

/** One probe of one endpoint; resolves when it passed. */
export async function probe(
  target: ProbeTarget,
  timeoutMs: number,
  halt: Cancellation,
): Promise<ProbePass> {
  const started = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`no answer within ${timeoutMs} ms`)),
    timeoutMs,
  );
  const onHalt = () => controller.abort(new Error('probes stopped'));
  halt.addEventListener('abort', onHalt, { once: true });
  const sockets: Socket[] = [];
  let stage = 'connect';
  try {
    const { backend, endpoint, protocol, login } = target;
    const tlsOptions = backendTlsOptions(backend.host, backend.tls);
    const signal = controller.signal;
    const plain = await connectBackend(
      {
        host: backend.host,
        port: endpoint.port,
        implicitTls: false,
        tlsOptions,
        sources: sourceAddresses.order(backend.name),
      },
      signal,
    );
    sockets.push(plain.on('error', ignore));
    if (endpoint.forward === 'proxy') plain.write(PROXY_V2_LOCAL);
    let socket: Socket | TLSSocket = plain;
    if (endpoint.tls === 'implicit') {
      stage = 'TLS handshake';
      socket = await connectTls(plain, tlsOptions, signal);
      sockets.push(socket.on('error', ignore));
    }
    const talk = new Dialogue(socket, signal, tlsOptions, sockets);
    const dialect: Dialect = dialects[protocol];
    stage = 'greeting';
    await dialect.greeting(talk);
    if (login && dialect.login) {
      // The probe's password does not cross the wire in the clear where users' do not either.
      if (endpoint.tls === 'starttls' && dialect.startTls) {
        stage = 'STARTTLS';
        await dialect.startTls(talk);
      }
      stage = 'login';
      await dialect.login(talk, login);
    }
    const passedMs = performance.now() - started;
    await dialect.goodbye(talk).catch(ignore);
    return { ms: passedMs, capabilities: talk.capabilities };
  } catch (error) {
    if (error instanceof ProbeError) throw error;
    const text = error instanceof Error ? error.message : String(error);
    throw new ProbeError(stage === 'connect' ? text : `${stage}: ${text}`, { cause: error });
  } finally {
    clearTimeout(timer);
    halt.removeEventListener('abort', onHalt);
    for (const socket of sockets) socket.destroy();
  }
}
