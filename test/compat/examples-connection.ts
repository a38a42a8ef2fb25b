/**
 * nodemailer's documented connection options and transports, continued: TLS modes, AUTH methods,
 * transport plugins, per-message auth, timeouts; and the programs where smtpwire differs on purpose.
 */

import { sendOne, smtp } from './examples-transport.js';
import { type Example, infoView, messageView } from './harness.js';

export const connectionExamples: Example[] = [
  {
    name: 'a local recipient without a TLD, and 150 recipients in one message',
    kind: 'feature',
    run: async (nm, t) => [
      await sendOne(nm.createTransport(smtp(t)), { to: 'root@localhost' }),
      await sendOne(nm.createTransport(smtp(t)), { to: Array.from({ length: 150 }, (_, i) => `r${i}@example.com`) }),
    ],
  },
  {
    name: 'secure: true (implicit TLS, port 465 style)',
    kind: 'feature',
    server: { secure: true },
    run: (nm, t) => sendOne(nm.createTransport(smtp(t, { secure: true }))),
    view: async (v, messages) => ({
      info: infoView(v as Record<string, unknown>),
      secure: messages.map((m) => m.secure),
    }),
  },
  {
    name: 'ignoreTLS: plaintext even when STARTTLS is offered',
    kind: 'feature',
    run: (nm, t) => sendOne(nm.createTransport(smtp(t, { ignoreTLS: true }))),
    view: async (v, messages) => ({
      info: infoView(v as Record<string, unknown>),
      secure: messages.map((m) => m.secure),
    }),
  },
  {
    name: 'authMethod LOGIN and CRAM-MD5',
    kind: 'feature',
    server: { users: { user: 'pass' } },
    run: async (nm, t) => {
      const infos = [];
      for (const authMethod of ['LOGIN', 'CRAM-MD5'])
        infos.push(await sendOne(nm.createTransport(smtp(t, { auth: { user: 'user', pass: 'pass' }, authMethod }))));
      return infos;
    },
  },
  {
    name: 'a transport plugin: createTransport({ name, version, send(mail, callback) })',
    kind: 'feature',
    run: async (nm) => {
      const seen: unknown[] = [];
      const plugin = {
        name: 'collector',
        version: '1.0.0',
        send(
          mail: {
            data: { subject?: string };
            message: { getEnvelope(): unknown; createReadStream(): NodeJS.ReadableStream };
          },
          callback: (err: Error | null, info?: object) => void,
        ) {
          const chunks: Buffer[] = [];
          const stream = mail.message.createReadStream();
          stream.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
          stream.on('end', async () => {
            const { headers: _h, ...message } = await messageView(Buffer.concat(chunks));
            seen.push({ subject: mail.data.subject, envelope: mail.message.getEnvelope(), message });
            callback(null, { delivered: true });
          });
        },
      };
      const transporter = nm.createTransport(plugin);
      const info = await transporter.sendMail({
        from: 'a@example.com',
        to: 'b@example.com',
        subject: 'plugin',
        text: 'via plugin',
      });
      return { info, seen, mailerSet: (plugin as { mailer?: unknown }).mailer === transporter };
    },
    view: (v) => v,
  },
  {
    name: 'isIdle() and verify() of a transport without connections (jsonTransport)',
    kind: 'feature',
    run: async (nm) => {
      const transporter = nm.createTransport({ jsonTransport: true });
      return { idle: transporter.isIdle(), verify: await transporter.verify() };
    },
    view: (v) => v,
  },
  {
    name: 'per-message auth',
    kind: 'feature',
    server: { users: { alice: 'alice-pass', bob: 'bob-pass' } },
    run: async (nm, t) => {
      const transporter = nm.createTransport(smtp(t, { auth: { user: 'alice', pass: 'alice-pass' } }));
      const first = await transporter.sendMail({ from: 'a@example.com', to: 'r@example.com', text: '1' });
      const second = await transporter.sendMail({
        from: 'b@example.com',
        to: 'r@example.com',
        text: '2',
        auth: { user: 'bob', pass: 'bob-pass' },
      });
      transporter.close();
      return [first, second];
    },
    view: (_v, messages) => messages.map((m) => m.user),
  },
  {
    name: 'socketTimeout: a server gone silent before the message',
    kind: 'error',
    server: {
      onMailFrom() {
        // never answers: the client's socketTimeout decides
      },
    },
    run: (nm, t) => sendOne(nm.createTransport(smtp(t, { socketTimeout: 300 }))),
  },
];

/** Where smtpwire answers differently on purpose (the README's table); asserted on their own. */
export const deliberateExamples: Example[] = [
  {
    name: 'socketTimeout after the final dot: UNKNOWN, not ETIMEDOUT',
    kind: 'error',
    server: {
      onData(stream, _session, _cb) {
        stream.resume();
        // never answers: the client's socketTimeout decides
      },
    },
    run: (nm, t) => sendOne(nm.createTransport(smtp(t, { socketTimeout: 300 }))),
  },
];
