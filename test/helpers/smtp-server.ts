/**
 * In-process smtp-server fixture: real SMTP, port 0, every received message kept byte for byte.
 */

import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { testCertificates } from '../../src/testing/certs.js';

export interface ReceivedMessage {
  from: string;
  to: string[];
  raw: Buffer;
  /** sha256 hex of the raw message and its length (always kept; `raw` is empty with digestOnly). */
  sha256: string;
  size: number;
  secure: boolean;
  user: string | undefined;
  /** The client's address as the server saw it. */
  remoteAddress: string;
  utf8: boolean;
  body8bit: boolean;
}

export interface TestServer {
  port: number;
  messages: ReceivedMessage[];
  /** Connections open right now and the most ever open at once. */
  readonly open: number;
  readonly maxOpen: number;
  readonly connections: number;
  close(): Promise<void>;
}

export interface TestServerOptions extends Partial<SMTPServerOptions> {
  users?: Record<string, string>;
  /** Recipients refused at RCPT with 550 5.1.1. */
  refuse?: string[];
  /** Reply to the final dot with this error (code, message). */
  failData?: { code: number; message: string };
  /** Keep only a digest of each message (for very large bodies). */
  digestOnly?: boolean;
}

export async function startSmtpServer(options: TestServerOptions = {}): Promise<TestServer> {
  const { users, refuse = [], failData, digestOnly = false, ...rest } = options;
  const certs = testCertificates();
  const messages: ReceivedMessage[] = [];
  let open = 0;
  let maxOpen = 0;
  let connections = 0;
  const server = new SMTPServer({
    logger: false,
    key: certs.key,
    cert: certs.cert,
    authOptional: !users,
    disabledCommands: users ? [] : ['AUTH'],
    authMethods: ['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2'],
    size: 50 * 1024 * 1024,
    onConnect(_session, cb) {
      connections++;
      open++;
      maxOpen = Math.max(maxOpen, open);
      cb();
    },
    onClose() {
      open--;
    },
    onAuth(auth, _session, cb) {
      const expected = users?.[auth.username ?? ''];
      const ok =
        expected !== undefined &&
        (auth.method === 'XOAUTH2'
          ? auth.accessToken === expected
          : auth.method === 'CRAM-MD5'
            ? auth.validatePassword(expected)
            : auth.password === expected);
      if (!ok) {
        cb(new Error('Invalid username or password'));
        return;
      }
      cb(null, { user: auth.username });
    },
    onRcptTo(address, _session, cb) {
      if (refuse.includes(address.address)) {
        const err = Object.assign(new Error('5.1.1 No such user'), { responseCode: 550 });
        cb(err);
        return;
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      const hash = createHash('sha256');
      let size = 0;
      stream.on('data', (c: Buffer) => {
        hash.update(c);
        size += c.length;
        if (!digestOnly) chunks.push(c);
      });
      stream.on('end', () => {
        const args = (session.envelope.mailFrom ? session.envelope.mailFrom.args : {}) as Record<
          string,
          string | boolean
        >;
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          sha256: hash.digest('hex'),
          size,
          secure: session.secure,
          user: session.user as string | undefined,
          remoteAddress: session.remoteAddress,
          utf8: Boolean(args.SMTPUTF8),
          body8bit: String(args.BODY ?? '').toUpperCase() === '8BITMIME',
        });
        if (failData) cb(Object.assign(new Error(failData.message), { responseCode: failData.code }));
        else cb(null, 'Queued');
      });
    },
    ...rest,
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    messages,
    get open() {
      return open;
    },
    get maxOpen() {
      return maxOpen;
    },
    get connections() {
      return connections;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
