/**
 * The error cases nodemailer programs switch on (`code`, `command`, `responseCode`, `rejected`,
 * `rejectedErrors`, socket fields), one program each.
 */

import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { type Example, errorView, type Nodemailer, type Target } from './harness.js';

const smtp = (t: Target, extra: object = {}) => ({ host: t.host, port: t.port, tls: t.tls, ...extra });

async function sendOne(nm: Nodemailer, options: object, fields: object = {}) {
  const transporter = nm.createTransport(options);
  try {
    return await transporter.sendMail({
      from: 'sender@example.com',
      to: 'rcpt@example.com',
      subject: 'E',
      text: 'x',
      ...fields,
    });
  } finally {
    transporter.close();
  }
}

/** A raw TCP server that runs `behave` on each connection. */
async function withRawServer<T>(
  behave: (socket: import('node:net').Socket) => void,
  use: (port: number) => Promise<T>,
): Promise<T> {
  const server = createServer(behave);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await use((server.address() as AddressInfo).port);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

export const errorExamples: Example[] = [
  {
    name: 'EAUTH: wrong password',
    kind: 'error',
    server: { users: { user: 'right' } },
    run: (nm, t) => sendOne(nm, smtp(t, { auth: { user: 'user', pass: 'wrong' } })),
  },
  {
    name: 'ESOCKET: connection refused (errno, syscall, address, port)',
    kind: 'error',
    run: async (nm) => {
      const port = await withRawServer(
        () => {},
        async (p) => p,
      );
      const err = await sendOne(nm, { host: '127.0.0.1', port }).catch((e: Error & { port?: number }) => e);
      return { err, samePort: (err as { port?: number }).port === port };
    },
    view: (v) => {
      const { err, samePort } = v as { err: unknown; samePort: boolean };
      const { port: _port, ...fields } = errorView(err) as Record<string, unknown>;
      return { ...fields, samePort };
    },
  },
  {
    name: 'EMESSAGE: message refused after the data',
    kind: 'error',
    server: { failData: { code: 554, message: '5.6.0 Refused as spam' } },
    run: (nm, t) => sendOne(nm, smtp(t)),
  },
  {
    name: 'EENVELOPE: every recipient refused',
    kind: 'error',
    server: { refuse: ['nobody@example.com', 'gone@example.com'] },
    run: (nm, t) => sendOne(nm, smtp(t), { to: 'nobody@example.com, gone@example.com' }),
  },
  {
    name: 'info.rejected and rejectedErrors: some recipients refused',
    kind: 'error',
    server: { refuse: ['nobody@example.com'] },
    run: (nm, t) => sendOne(nm, smtp(t), { to: 'ok@example.com, nobody@example.com' }),
  },
  {
    name: 'ETIMEDOUT: no greeting',
    kind: 'error',
    run: (nm) =>
      withRawServer(
        // It reads what it gets (smtpwire writes a TLS ClientHello after the timeout to tell an implicit-TLS port),
        // so the client's close ends the connection and server.close() returns.
        (socket) => socket.resume(),
        (port) => sendOne(nm, { host: '127.0.0.1', port, greetingTimeout: 200 }),
      ),
  },
  {
    name: 'EENVELOPE at MAIL FROM',
    kind: 'error',
    server: {
      onMailFrom(_address, _session, cb) {
        cb(Object.assign(new Error('5.7.1 Sender refused'), { responseCode: 550 }));
      },
    },
    run: (nm, t) => sendOne(nm, smtp(t)),
  },
  {
    name: 'ESOCKET: the server certificate is not trusted',
    kind: 'error',
    run: (nm, t) => sendOne(nm, { host: t.host, port: t.port, requireTLS: true }),
  },
  {
    name: 'a malformed recipient address',
    kind: 'error',
    run: (nm, t) => sendOne(nm, smtp(t), { to: 'not an address' }),
  },
  {
    name: 'ECONNECTION: the server hangs up mid-session',
    kind: 'error',
    run: (nm) =>
      withRawServer(
        (socket) => {
          socket.write('220 ready\r\n');
          socket.once('data', () => socket.end('421 4.3.2 Going away\r\n'));
        },
        (port) => sendOne(nm, { host: '127.0.0.1', port }),
      ),
  },
  {
    name: 'greeting refused with 554',
    kind: 'error',
    run: (nm) =>
      withRawServer(
        (socket) => socket.end('554 5.3.2 No service\r\n'),
        (port) => sendOne(nm, { host: '127.0.0.1', port }),
      ),
  },
];

/** Deliberately different (README table): STARTTLS is not sent to a server that does not offer it. */
export const requireTlsExample: Example = {
  name: 'requireTLS when the server offers no STARTTLS',
  kind: 'error',
  server: { disabledCommands: ['STARTTLS', 'AUTH'] },
  run: (nm, t) => sendOne(nm, smtp(t, { requireTLS: true })),
};
