import type { Server } from 'node:net';
import type { SmtpListenerOptions } from './server.js';
import type { AuthMechanism } from './server-side/command.js';
import { SmtpSession } from './server-side/session.js';
import { sessionSetup } from './session-setup.js';
import { listenSmtp } from './smtp-listen.js';
import { Submission } from './submission.js';

/**
 * Starts a submission listener: homing's own SMTP session with AUTH, each session with a
 * Submission that logs in at the user's home or checks the password for the smarthost.
 */
export async function startSubmissionListener(options: SmtpListenerOptions): Promise<Server> {
  const log = options.log.child({ listener: options.spec.name, proto: options.kind });
  const submission = options.submission;
  if (!submission) throw new Error('a submission listener needs its mode');
  // OAuth is replayed at the home; relay mode checks passwords only.
  const oauth = submission.oauth && submission.mode === 'home';
  const mechanisms: AuthMechanism[] = [
    'PLAIN',
    'LOGIN',
    ...(oauth ? (['XOAUTH2', 'OAUTHBEARER'] as const) : []),
  ];
  const setup = sessionSetup(options, {
    mechanisms,
    plaintext: submission.allowPlaintext,
  });
  return listenSmtp(options, log, (connection) => {
    const handler = new Submission(
      {
        mode: submission.mode,
        directory: options.directory,
        health: options.health,
        limits: options.limits,
        hostname: options.hostname,
        smarthost: submission.smarthost,
        isOwnAddress: options.isOwnAddress,
      },
      connection,
    );
    new SmtpSession(connection, setup, handler, 'submission').start();
  });
}
