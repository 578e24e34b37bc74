/**
 * What a client presented to log in, replayed to its home with the same mechanism. `LOGIN`
 * is IMAP's LOGIN command, `USER` POP3's USER/PASS; the SASL mechanisms are the same in both.
 */
export type Credentials =
  | { readonly mechanism: 'LOGIN' | 'USER'; readonly user: string; readonly password: string }
  | {
      readonly mechanism: 'PLAIN';
      readonly authzid: string;
      readonly user: string;
      readonly password: string;
    }
  | {
      readonly mechanism: 'XOAUTH2' | 'OAUTHBEARER';
      readonly user: string;
      /** The client's whole first message: the token is for the backend to check. */
      readonly response: Buffer;
    };

/** The client's password, when it gave one (not for OAuth). */
export function passwordOf(credentials: Credentials): string | undefined {
  return 'password' in credentials ? credentials.password : undefined;
}
