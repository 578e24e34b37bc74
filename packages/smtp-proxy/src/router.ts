import type { Backend, Directory, Endpoint } from '@homing/directory';
import {
  type BackendHealth,
  findHome,
  HomeQuery,
  healthKey,
  type Limits,
  localErrorCode,
  openBackend,
  type Peer,
  type ProxyMetrics,
  type UnavailableReason,
} from '@homing/proxy-core';
import type { Logger } from 'pino';
import { SmtpBackend } from './backend.js';
import { deliverShare } from './backend-delivery.js';
import type { BackendPool } from './backend-pool.js';
import { type ClientTrace, receivedFor, sendXclient } from './client-trace.js';
import { FingerprintReader } from './journal/fingerprint.js';
import type { DeliveryJournal } from './journal/journal.js';
import { journalDown, lookUp, settle } from './journal/journal-step.js';
import { logMessage } from './message-log.js';
import { type ClientMessage, MessageRelay, type Outlet } from './message-relay.js';
import { type BackendAnswer, lostConnection, perRecipientReplies, singleReply } from './outcome.js';
import { forwardParams } from './params.js';
import { isPositive } from './reply.js';
import type { SmtpAddress } from './server-side/address.js';
import type { EnvelopeHandler, SessionFacts } from './server-side/session.js';
import {
  messageOutcome,
  recipientOutcome,
  replyError,
  SmtpError,
  smtpError,
  smtpReplies,
  tooManyHops,
} from './smtp-replies.js';

/**
 * What a recipient on a second backend gets: 452, so that the sender sends it in another
 * transaction (`single`), or the same transaction, delivered by every backend at once and made
 * exact by the delivery journal (`fanout`).
 */
export type MixedPolicy = 'single' | 'fanout';

/** The header block is fingerprinted up to this many bytes unless told otherwise. */
const defaultFingerprintBytes = 65_536;

export interface RouterOptions {
  readonly directory: Directory;
  readonly health: BackendHealth;
  readonly limits: Limits;
  /** Our host name: EHLO/LHLO to backends and the `by` of Received headers. */
  readonly hostname: string;
  readonly policy: MixedPolicy;
  /**
   * `fanout`: recipients delivered by an attempt the sender is told to repeat; without it (or
   * while it is unavailable) a transaction keeps to one backend.
   */
  readonly journal?: DeliveryJournal | undefined;
  /** Most bytes of the header block in a message's fingerprint (below the outlets' hold limit). */
  readonly fingerprintBytes?: number | undefined;
  /** More `Received:` headers than this is a mail loop (RFC 5321 §6.3). */
  readonly maxReceived: number;
  /** The client speaks LMTP: one reply per recipient after DATA. */
  readonly lmtp: boolean;
  readonly isOwnAddress: (host: string, port: number) => boolean;
  /** A move of this user (the directory's login) is under way: defer their mail. */
  readonly frozen?: ((login: string) => boolean | Promise<boolean>) | undefined;
  /** Backend connections shared with the listener's other sessions. */
  readonly pool?: BackendPool | undefined;
  readonly metrics: ProxyMetrics;
}

/**
 * The client connection a router serves (a ClientConnection): its logger is made only when a
 * line is written, and the one line per message goes to the listener's (see MessageLog).
 */
export interface RouterConnection {
  readonly id: string;
  readonly client: Peer;
  readonly local: Peer;
  readonly log: Logger;
  readonly listenerLog: Logger;
}

/** One backend's share of a transaction. */
interface Delivery {
  readonly backend: Backend;
  readonly client: SmtpBackend;
  /** Indexes into the transaction's accepted recipients. */
  readonly recipients: number[];
  /** The backend was told the client by XCLIENT, so it writes the trace header itself. */
  readonly xclient: boolean;
  /** MAIL FROM still to be sent: it goes together with the first RCPT (one round trip). */
  mailPending: boolean;
  /** The MAIL command it got (a transaction begun again sends it again). */
  mail: string;
  /** The connection came from the pool: the server may have closed it meanwhile. */
  readonly reused: boolean;
}

interface Accepted {
  readonly address: string;
  /** The RCPT command its backend accepted. */
  readonly rcpt: string;
  readonly delivery: Delivery;
}

/** What a sender is told when a recipient's home cannot be used now. */
const unavailable: Record<UnavailableReason, SmtpError> = {
  directory: smtpError(smtpReplies.directoryUnavailable),
  'no service': smtpError(smtpReplies.noDeliveryService),
  loop: smtpError(smtpReplies.routingLoop),
  'password check': smtpError(smtpReplies.directoryUnavailable),
};

export class Router implements EnvelopeHandler {
  #from: SmtpAddress | undefined;
  #session: SessionFacts | undefined;
  #deliveries = new Map<string, Delivery>();
  #accepted: Accepted[] = [];
  /** Open connections by backend name, reused by the session's next transaction. */
  readonly #idle = new Map<string, SmtpBackend>();
  /** Connections told the client by XCLIENT (true), or that refused it (false); made when first needed. */
  #xclient: WeakMap<SmtpBackend, boolean> | undefined;
  readonly #options: RouterOptions;
  readonly #conn: RouterConnection;

  /** `options` are the listener's, made once for all its sessions. */
  constructor(options: RouterOptions, connection: RouterConnection) {
    this.#options = options;
    this.#conn = connection;
  }

  /** The session's logger, made when first asked for. */
  get #log(): Logger {
    return this.#conn.log;
  }

  /** MAIL FROM: a new transaction. Backends hear of it with the first recipient they hold. */
  async mail(from: SmtpAddress, session: SessionFacts): Promise<void> {
    this.#session = session;
    await this.#endTransaction('RSET');
    this.#from = from;
  }

  async rcpt(to: SmtpAddress, session: SessionFacts): Promise<void> {
    this.#session = session;
    const protocol = this.#options.lmtp ? 'lmtp' : 'smtp';
    try {
      await this.#rcpt(to);
      this.#options.metrics.smtpRecipient(protocol, 'accepted');
    } catch (error) {
      const code = error instanceof SmtpError ? error.responseCode : 451;
      this.#options.metrics.smtpRecipient(protocol, recipientOutcome(error));
      // What Postfix logs as "NOQUEUE: reject": a refused recipient leaves a trace.
      this.#log.info(
        {
          helo: session.hostNameAppearsAs,
          from: this.#from?.address,
          to: to.address,
          reply: `${code} ${error instanceof Error ? error.message : String(error)}`,
        },
        'recipient refused',
      );
      throw error;
    }
  }

  async #rcpt(to: SmtpAddress): Promise<void> {
    // The one way every protocol finds a home: health, service, loop check, stale routes.
    const home = await findHome(
      new HomeQuery(this.#options, 'lmtp', to.address, undefined, this.#conn, 'recipient', 'smtp'),
    );
    if (home.kind === 'failed') throw smtpError(smtpReplies.noSuchUser);
    if (home.kind === 'unavailable') throw unavailable[home.reason];
    const { route, endpoint } = home;
    const frozen = this.#options.frozen?.(route.login) ?? false;
    if (frozen === true || (frozen !== false && (await frozen)))
      throw smtpError(smtpReplies.userMoving);
    const backend = route.backend;
    let delivery = this.#deliveries.get(backend.name);
    if (!delivery && this.#deliveries.size > 0 && !this.#options.lmtp && !this.#mayFanOut()) {
      throw smtpError(smtpReplies.tooManyRecipients);
    }
    delivery ??= await this.#open(backend, endpoint);
    let open = delivery;
    const rcpt = `RCPT TO:<${route.login}>${forwardParams(to, open.client.extensions, 'rcpt')}`;
    const wait = this.#options.limits.backendCommandTimeoutMs;
    if (open.mailPending) {
      const from = this.#from;
      const mailFor = (client: SmtpBackend) =>
        `MAIL FROM:<${from?.address ?? ''}>${from ? forwardParams(from, client.extensions, 'mail') : ''}`;
      let failure: unknown;
      let replies = await open.client
        .pipeline([mailFor(open.client), rcpt], wait)
        .catch((error: unknown) => {
          failure = error;
          return [];
        });
      if (failure !== undefined && open.reused) {
        // A pooled connection the server closed while it waited: once more on a new one.
        open.client.destroy();
        this.#deliveries.delete(backend.name);
        open = await this.#open(backend, endpoint, true);
        replies = await open.client
          .pipeline([mailFor(open.client), rcpt], wait)
          .catch((error: unknown) => this.#lost(open, error));
      } else if (failure !== undefined) {
        this.#lost(open, failure);
      }
      const [mailReply, rcptReply] = replies;
      open.mail = mailFor(open.client);
      if (!mailReply || !isPositive(mailReply)) {
        // The backend refused the sender: this backend takes no part in the transaction.
        this.#deliveries.delete(backend.name);
        this.#idle.set(backend.name, open.client);
        await open.client.command('RSET', wait).catch(() => open.client.destroy());
        throw mailReply ? replyError(mailReply) : smtpError(smtpReplies.noAnswer);
      }
      open.mailPending = false;
      if (!rcptReply || !isPositive(rcptReply)) {
        throw rcptReply ? replyError(rcptReply) : smtpError(smtpReplies.noAnswer);
      }
    } else {
      const reply = await open.client
        .command(rcpt, wait)
        .catch((error: unknown) => this.#lost(open, error));
      if (!isPositive(reply)) throw replyError(reply);
    }
    open.recipients.push(this.#accepted.length);
    this.#accepted.push({ address: to.address, rcpt, delivery: open });
  }

  /** Whether a transaction may spread over backends now; counts each time it may not. */
  #mayFanOut(): boolean {
    if (this.#options.policy !== 'fanout') return false;
    if (this.#options.journal?.available) return true;
    this.#options.metrics.smtpJournal('fallback', 1);
    return false;
  }

  /** The MX's journal, for a transaction of the `fanout` policy (LMTP replies per recipient). */
  #journal(): DeliveryJournal | undefined {
    return this.#options.policy === 'fanout' && !this.#options.lmtp
      ? this.#options.journal
      : undefined;
  }

  /**
   * Streams the message to every backend of the transaction at once. SMTP clients get one
   * reply: 250 only when every backend said 250. LMTP clients get one reply per recipient.
   */
  async data(stream: ClientMessage, session: SessionFacts): Promise<string | (string | Error)[]> {
    this.#session = session;
    const protocol = this.#options.lmtp ? 'lmtp' : 'smtp';
    try {
      const result = await this.#data(stream);
      const deferred = Array.isArray(result) && result.some((r) => r instanceof Error);
      this.#options.metrics.smtpMessage(protocol, deferred ? 'deferred' : 'accepted');
      return result;
    } catch (error) {
      this.#options.metrics.smtpMessage(protocol, messageOutcome(error));
      throw error;
    }
  }

  async #data(stream: ClientMessage): Promise<string | (string | Error)[]> {
    // A backend that took the sender but none of the recipients gets no DATA.
    const deliveries = [...this.#deliveries.values()].filter((d) => d.recipients.length > 0);
    const from = this.#from?.address ?? '';
    const journal = this.#journal();
    // The relay hands it every piece of the message first.
    const fingerprint =
      journal &&
      new FingerprintReader(from, this.#options.fingerprintBytes ?? defaultFingerprintBytes);
    const relay = new MessageRelay(
      stream,
      deliveries.map((d) => ({
        target: d.client,
        prefix: d.xclient ? undefined : Buffer.from(this.#received(d)),
      })),
      this.#options.maxReceived,
      fingerprint,
    );
    const known =
      journal &&
      fingerprint &&
      lookUp(journal, fingerprint.value, this.#options.metrics, this.#conn);
    const timeoutMs = this.#options.limits.backendDataTimeoutMs;
    const accepted = this.#accepted;
    const results = await Promise.all(
      deliveries.map(async (d, i): Promise<BackendAnswer[]> => {
        const outlet = relay.outlets[i] as Outlet;
        try {
          const found = await known;
          if (found === 'failed' && deliveries.length > 1) {
            // Whether an earlier attempt reached some of them is unknown: none gets it now.
            outlet.drop();
            await d.client.command('RSET', timeoutMs);
            return d.recipients.map(() => journalDown);
          }
          const share = {
            client: d.client,
            mail: d.mail,
            recipients: d.recipients.map((r) => accepted[r] as Accepted),
          };
          const earlier = typeof found === 'object' ? found.delivered : undefined;
          return await deliverShare(share, outlet, earlier, timeoutMs);
        } catch (error) {
          d.client.destroy();
          if (!relay.tooManyHops && !stream.sizeExceeded) {
            this.#log.warn(
              { backend: d.backend.name, err: String(error) },
              'backend failed during DATA',
            );
          }
          return d.recipients.map(() => undefined);
        }
      }),
    );
    await relay.ended();
    this.#finishTransaction();
    if (relay.tooManyHops) {
      this.#log.info({ from, size: stream.byteLength }, 'message refused: mail loop');
      throw smtpError(tooManyHops(this.#options.maxReceived));
    }
    if (stream.sizeExceeded) {
      this.#log.info({ from, size: stream.byteLength }, 'message refused: too big');
      return 'ignored'; // the session answers 552 itself
    }

    // One outcome per accepted recipient, in the client's order.
    const outcomes = accepted.map((rcpt, n): BackendAnswer => {
      const i = deliveries.indexOf(rcpt.delivery);
      return results[i]?.[rcpt.delivery.recipients.indexOf(n)];
    });
    // Written once the reply is on its way: the sender does not wait for our log.
    const size = stream.byteLength;
    const logged = accepted.map((r) => ({ address: r.address, backend: r.delivery.backend.name }));
    const conn = this.#conn;
    setImmediate(() => {
      const messageLog = { log: conn.listenerLog, sid: conn.id, client: conn.client.address };
      logMessage(messageLog, from, size, logged, outcomes);
    });
    if (this.#options.lmtp) return perRecipientReplies(outcomes);
    const reply = singleReply(outcomes);
    if (journal && known) {
      const addresses = accepted.map((r) => r.address);
      const { metrics } = this.#options;
      await settle(
        journal,
        await known,
        reply.kind === 'retry',
        addresses,
        outcomes,
        metrics,
        this.#conn,
      );
    }
    if (reply.kind === 'delivered') return reply.text;
    throw reply.error;
  }

  /**
   * The session ended: nothing half-done may be delivered; connections between transactions go
   * back to the pool for other sessions.
   */
  close(): void {
    for (const d of this.#deliveries.values()) d.client.destroy();
    this.#deliveries.clear();
    const { pool } = this.#options;
    for (const c of this.#idle.values()) {
      const key = c.poolKey;
      if (pool && key !== undefined) pool.give(key, c);
      else c.close();
    }
    this.#idle.clear();
  }

  /** `fresh`: not from the pool (a pooled one just failed). */
  async #open(backend: Backend, endpoint: Endpoint, fresh = false): Promise<Delivery> {
    const { health, limits, pool } = this.#options;
    const lmtp = backend.endpoints.lmtp === endpoint;
    const key = healthKey(backend.name, lmtp ? 'lmtp' : 'smtp');
    // A connection with a PROXY header carries one client's address: it is not shared.
    const poolKey =
      endpoint.forward === 'proxy'
        ? undefined
        : `${key} ${backend.host}:${endpoint.port} ${endpoint.tls} ${endpoint.forward}`;
    if (health.isDown(key)) {
      if (poolKey !== undefined) pool?.drop(poolKey);
      throw smtpError(smtpReplies.mailboxServerUnavailable);
    }
    let client = this.#idle.get(backend.name);
    this.#idle.delete(backend.name);
    if (client?.closed) client = undefined;
    let reused = false;
    if (!client && !fresh && poolKey !== undefined) {
      client = pool?.take(poolKey);
      reused = client !== undefined;
    }
    client ??= await this.#connect(backend, endpoint, lmtp);
    // A pooled connection goes back too, or the pool would serve each connection only twice.
    client.poolKey = poolKey;
    let xclient = false;
    try {
      if (this.#from?.args && 'SMTPUTF8' in this.#from.args && !client.extensions.has('SMTPUTF8')) {
        this.#idle.set(backend.name, client);
        throw smtpError(smtpReplies.noSmtpUtf8);
      }
      if (endpoint.forward === 'xclient') {
        // Told once per connection: the backend keeps it for the connection's transactions.
        this.#xclient ??= new WeakMap();
        let told = this.#xclient.get(client);
        if (told === undefined) {
          told = await sendXclient(client, this.#trace(), limits.backendCommandTimeoutMs);
          this.#xclient.set(client, told);
        }
        xclient = told;
      }
    } catch (error) {
      if (error instanceof SmtpError) throw error;
      client?.destroy();
      // A pooled connection that failed says nothing of the server: try a new one.
      if (reused) return this.#open(backend, endpoint, true);
      // The node's own shortage (descriptors, source ports) says nothing of the backend.
      const local = localErrorCode(error);
      if (local) this.#options.metrics.localError(local, 'backend_connect');
      else health.failure(key, String(error));
      this.#log.warn({ backend: backend.name, err: String(error) }, 'mailbox server unavailable');
      throw smtpError(smtpReplies.mailboxServerUnavailable);
    }
    const delivery: Delivery = {
      backend,
      client,
      recipients: [],
      xclient: xclient || endpoint.forward === 'proxy',
      mailPending: true,
      mail: '',
      reused,
    };
    this.#deliveries.set(backend.name, delivery);
    return delivery;
  }

  /**
   * A new connection through proxy-core's one way to a backend: skipped while the backend is
   * marked down, one deadline for connect, TLS, greeting, LHLO/EHLO and STARTTLS, the outcome
   * counted in its health and the backend-connect metrics.
   */
  async #connect(backend: Backend, endpoint: Endpoint, lmtp: boolean): Promise<SmtpBackend> {
    const { health, limits, hostname, metrics } = this.#options;
    const opened = await openBackend({
      backend,
      endpoint,
      protocol: lmtp ? 'lmtp' : 'smtp',
      connection: { client: this.#conn.client, local: this.#conn.local, metrics },
      limits,
      health,
      greet: (socket, tlsOptions, signal) =>
        SmtpBackend.over(
          socket,
          {
            host: backend.host,
            port: endpoint.port,
            lmtp,
            tls: endpoint.tls,
            tlsOptions,
            name: hostname,
            maxLineBytes: limits.lineBytes,
            chunking: endpoint.chunking,
          },
          signal,
        ),
    });
    if (opened.ok) return opened.session;
    this.#log.warn({ backend: backend.name, err: opened.reason }, 'mailbox server unavailable');
    throw smtpError(smtpReplies.mailboxServerUnavailable);
  }

  #received(delivery: Delivery): string {
    const first =
      delivery.recipients.length === 1
        ? this.#accepted[delivery.recipients[0] as number]?.address
        : undefined;
    return receivedFor(this.#trace(), first);
  }

  #trace(): ClientTrace {
    const { hostname, lmtp } = this.#options;
    return { session: this.#session, connection: this.#conn, hostname, lmtp };
  }

  #lost(delivery: Delivery, error: unknown): never {
    delivery.client.destroy();
    this.#deliveries.delete(delivery.backend.name);
    this.#log.warn({ backend: delivery.backend.name, err: String(error) }, 'mailbox server lost');
    throw lostConnection();
  }

  /** After DATA: keep healthy connections for the session's next transaction. */
  #finishTransaction(): void {
    for (const d of this.#deliveries.values()) {
      if (d.client.closed) continue;
      // One still inside a transaction (MAIL sent, no DATA) is not worth a reset: close it.
      if (d.recipients.length === 0 && !d.mailPending) d.client.close();
      else this.#idle.set(d.backend.name, d.client);
    }
    this.#deliveries.clear();
    this.#accepted = [];
    this.#from = undefined;
  }

  /** A new MAIL (or the end) while backends hold a transaction: reset them. */
  async #endTransaction(command: 'RSET'): Promise<void> {
    const open = [...this.#deliveries.values()];
    this.#finishTransaction();
    await Promise.all(
      open.map((d) =>
        d.client
          .command(command, this.#options.limits.backendCommandTimeoutMs)
          .catch(() => d.client.destroy()),
      ),
    );
  }
}
