/**
 * Run by port-exhaustion.int.test.ts inside a network namespace of its own (`unshare -n`, lo
 * up): a real Dovecot and a homing node with `backend_defaults.source_addresses` set to the
 * addresses given as arguments, then `net.ipv4.ip_local_port_range` narrowed to `PORTS` ports,
 * and IMAP clients logging in one after another until one is refused. Prints one line,
 * `RESULT {json}`, with what the test checks. Clients use ports of their own outside the
 * range, so only homing's backend connections draw on it.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Dovecot, freePort, RawClient, tempDir } from '@homing/testkit';
import { NodeProcess } from './node-process.js';

/** Ports of the narrowed range: above the default one, so no listener started before is in it. */
const firstPort = 61_000;
const ports = Number(process.env.PORTS ?? 100);
const clientPorts = 20_000;
const users = ['u0', 'u1', 'u2', 'u3'].map((name) => ({
  user: `${name}@example.com`,
  password: `${name}-pw`,
}));
const token = 'admin-token-0123456789';

const sources = process.argv.slice(2);
const dir = tempDir('ports');
const dovecot = await Dovecot.start({ name: 'A', users, tuned: true });
const listen = { imap: await freePort(), admin: await freePort() };
const node = await startNode();
let nextClientPort = clientPorts;
const held: RawClient[] = [];
try {
  execFileSync('sysctl', [
    '-qw',
    `net.ipv4.ip_local_port_range=${firstPort} ${firstPort + ports - 1}`,
    // While the ports run out, a probe must not take back its own last port from TIME_WAIT
    // (tcp_tw_reuse, 2 in a new namespace: loopback only), or it may pass where a login failed.
    'net.ipv4.tcp_tw_reuse=0',
  ]);
  let refusal = '';
  while (held.length <= 3 * ports) {
    const { client, reply } = await logIn(held.length);
    if (!reply.startsWith('a OK')) {
      refusal = reply;
      client.close();
      break;
    }
    held.push(client);
  }
  // Probes every second draw on the same ports: one fails here, and gives no verdict.
  await node.waitFor('probe failed on this node', 5000);
  const metrics = (await admin('/metrics')).text;
  const ready = await admin('/readyz');
  // One leaves, and homing closes its backend connection first: that port is in TIME_WAIT. A
  // connect from no particular source may take it again after a second (net.ipv4.tcp_tw_reuse,
  // 2 in a new namespace: loopback only); a port bound to a source address waits out the 60 s.
  execFileSync('sysctl', ['-qw', 'net.ipv4.tcp_tw_reuse=2']);
  held.shift()?.close();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const after = await logIn(held.length);
  held.push(after.client);
  const result = {
    sources,
    ports,
    held: held.length - 1,
    refusal,
    afterOneLeft: after.reply,
    backendUp: metricLines(metrics, 'homing_backend_up{backend="mbox-a",protocol="imap"}'),
    localErrors: metricLines(metrics, 'homing_local_errors_total'),
    readyz: ready.status,
    backendDown: node.output.includes('backend down'),
    outOfResources: node.output.includes('node out of resources'),
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  for (const client of held) client.close();
  node.signal('SIGKILL');
  await node.exited;
  await dovecot.destroy();
  dir.remove();
}

async function startNode(): Promise<NodeProcess> {
  writeFileSync(
    join(dir.path, 'users.yaml'),
    `users:\n${users.map((u) => `  ${u.user}: { home: mbox-a }\n`).join('')}`,
  );
  const config = join(dir.path, 'homing.yaml');
  writeFileSync(
    config,
    `log: { level: info, format: json, flush_interval: 0s }
admin:
  listen: 127.0.0.1:${listen.admin}
  token: ${token}
directory:
  source: file
  file: { path: ${join(dir.path, 'users.yaml')} }
listeners:
  - { protocol: imap, listen: 127.0.0.1:${listen.imap}, tls: none, allow_plaintext_auth: true }
abuse:
  max_connections_per_address: 0
  max_sessions_per_user: 0
backend_health:
  backoff_min: 1m
  probe_interval: 1s
backend_defaults:
  source_addresses: [${sources.join(', ')}]
backends:
  mbox-a:
    host: 127.0.0.1
    imap: { port: ${dovecot.imapPort} }
`,
  );
  const started = new NodeProcess(config);
  await started.waitFor('homing ready');
  return started;
}

/** A client from a port of its own, logged in as one of the users in turn. */
async function logIn(n: number): Promise<{ client: RawClient; reply: string }> {
  const client = await connectFromOwnPort();
  await client.until(/^\* OK /);
  const user = users[n % users.length] as (typeof users)[number];
  client.send(`a LOGIN ${user.user} ${user.password}`);
  const reply = (await client.until(/^a /, 10_000)).at(-1) as string;
  return { client, reply };
}

/** A client from the next of its own ports; one that is taken is passed over. */
async function connectFromOwnPort(): Promise<RawClient> {
  for (let tries = 1; ; tries++) {
    try {
      return await RawClient.connect({ port: listen.imap, localPort: nextClientPort++ });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || tries >= 10) throw error;
    }
  }
}

/** An admin request from a port outside the range: the range may have none left. */
function admin(path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: listen.admin,
        path,
        localPort: nextClientPort++,
        agent: false,
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function metricLines(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(name));
}
