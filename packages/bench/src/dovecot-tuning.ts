import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dovecot } from '@homing/testkit';

/**
 * Dovecot's defaults fork a login process per connection and an imap or pop3 process per
 * session, which costs more than the proxy does and hides what homing adds. Long-lived login
 * processes (service_count 0, several clients each) and reused session processes (safe here:
 * every mailbox belongs to the same system user) take most of that away. Dovecot merges a
 * service block given twice, so these lines go after the testkit's own.
 */
const settings = `
# homing bench: reuse login and session processes
service imap-login {
  service_count = 0
  process_min_avail = 2
  client_limit = 1000
}
service pop3-login {
  service_count = 0
  process_min_avail = 2
  client_limit = 1000
}
service imap {
  service_count = 0
  process_min_avail = 8
}
service pop3 {
  service_count = 0
  process_min_avail = 8
}
`;

/** Restarts `dovecot` (same ports, same mail) with the settings above. */
export async function tuneDovecot(dovecot: Dovecot): Promise<void> {
  await dovecot.stop();
  appendFileSync(join(dovecot.path, 'dovecot.conf'), settings);
  await dovecot.resume();
}
