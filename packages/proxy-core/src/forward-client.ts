import type { LoginClient } from './login-path.js';

/** The client's address and port, and homing's session id, as XCLIENT names them. */
export type XclientFields = {
  readonly ADDR: string;
  readonly PORT: number;
  readonly SESSION: string;
};

/**
 * XCLIENT before the login (POP3, ManageSieve): the backend logs and checks the real client
 * address. A backend offers it only to proxies it trusts (Dovecot: login_trusted_networks);
 * without it, or refused, the backend sees the proxy as the client, which is logged, not fatal.
 * `send` gives the backend's reply line when it was not a success, undefined when it was.
 */
export async function forwardClient(
  connection: LoginClient,
  offered: boolean,
  send: (fields: XclientFields) => Promise<string | undefined>,
): Promise<void> {
  if (!offered) {
    connection.log.warn('backend does not offer XCLIENT: it sees the proxy as the client');
    return;
  }
  const { client } = connection;
  const refusal = await send({ ADDR: client.address, PORT: client.port, SESSION: connection.id });
  if (refusal !== undefined) connection.log.warn({ reply: refusal }, 'backend refused XCLIENT');
}
