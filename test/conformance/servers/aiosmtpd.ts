/**
 * aiosmtpd (Debian python3-aiosmtpd) for the conformance suite, run by the Debian
 * /usr/bin/python3 with py/aiosmtpd_server.py. Two listeners on 127.0.0.1 with
 * kernel-chosen ports: `port` (STARTTLS) and `tlsPort` (implicit TLS, RFC 8314).
 */
import { join } from 'node:path';
import { startChildServer } from './child-server.js';
import { SERVERS_DIR, SYSTEM_PYTHON } from './process.js';
import type { RealServer, StartOptions } from './types.js';

const NOTES = Object.freeze([
  'No PIPELINING keyword and no CHUNKING: aiosmtpd does not advertise them.',
  'Lines longer than 1001 octets are refused with "500 Line too long".',
  'Delivered bytes are exactly what came after dot-unstuffing (CRLF); no header is added.',
]);

/**
 * Starts aiosmtpd with STARTTLS, implicit TLS, AUTH PLAIN/LOGIN, SMTPUTF8, 8BITMIME and SIZE.
 * Needs /usr/bin/python3 with the aiosmtpd module (see .ci/install-servers.sh).
 * @throws ServerStartError with the Python log when it does not report ready.
 */
export function startAiosmtpd(opts: StartOptions = {}): Promise<RealServer> {
  return startChildServer(
    {
      name: 'aiosmtpd',
      command: SYSTEM_PYTHON,
      args: [join(SERVERS_DIR, 'py/aiosmtpd_server.py')],
      hostname: 'aiosmtpd.smtpwire.test',
      features: {
        starttls: true,
        implicitTls: true,
        authMechanisms: ['LOGIN', 'PLAIN'],
        pipelining: false,
        chunking: false,
        smtputf8: true,
        eightBitMime: true,
      },
      notes: NOTES,
    },
    opts,
  );
}
