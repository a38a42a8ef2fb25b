/**
 * The npm smtp-server (a dev dependency) for the conformance suite, in its own Node
 * process (smtp-server-child.mjs), so it shares no event loop with the client under
 * test. Two listeners on 127.0.0.1 with kernel-chosen ports: `port` (STARTTLS) and
 * `tlsPort` (implicit TLS, RFC 8314).
 */
import { join } from 'node:path';
import { startChildServer } from './child-server.js';
import { SERVERS_DIR } from './process.js';
import type { RealServer, StartOptions } from './types.js';

const NOTES = Object.freeze([
  'No CHUNKING: smtp-server does not implement BDAT.',
  'SIZE is enforced after the data with 552 (smtp-server only counts; the child script refuses).',
  'Delivered bytes are exactly what came after dot-unstuffing (CRLF); no header is added.',
]);

/**
 * Starts smtp-server with STARTTLS, implicit TLS, AUTH PLAIN/LOGIN/CRAM-MD5,
 * PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES and SIZE.
 * @throws ServerStartError with the child's output when it does not report ready.
 */
export function startSmtpServerProcess(opts: StartOptions = {}): Promise<RealServer> {
  return startChildServer(
    {
      name: 'smtp-server',
      command: process.execPath,
      args: [join(SERVERS_DIR, 'smtp-server-child.mjs')],
      hostname: 'smtp-server.smtpwire.test',
      features: {
        starttls: true,
        implicitTls: true,
        authMechanisms: ['PLAIN', 'LOGIN', 'CRAM-MD5'],
        pipelining: true,
        chunking: false,
        smtputf8: true,
        eightBitMime: true,
      },
      notes: NOTES,
    },
    opts,
  );
}
