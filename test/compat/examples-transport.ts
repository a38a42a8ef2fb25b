/**
 * nodemailer's documented transport options, transports, plugins and events, one program each.
 */

import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { type AddressInfo, connect as netConnect } from 'node:net';
import { Transform } from 'node:stream';
import { DKIM_KEYS, fixtureRecords, mailauthVerify } from '../helpers/dkim-verifiers.js';
import { type Example, infoView, messageView, receivedView, scratchPath, type Target } from './harness.js';

export async function sendOne(
  transporter: { sendMail: (m: object) => Promise<unknown>; close: () => void },
  fields: object = {},
) {
  try {
    return await transporter.sendMail({
      from: 'sender@example.com',
      to: 'rcpt@example.com',
      subject: 'Hi',
      text: 'Hello',
      ...fields,
    });
  } finally {
    transporter.close();
  }
}

/** A local OAuth2 token endpoint: every refresh gives `fresh-token`. */
async function withTokenEndpoint<T>(use: (url: string, requests: string[]) => Promise<T>): Promise<T> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      requests.push(body);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ access_token: 'fresh-token', expires_in: 3600, token_type: 'Bearer' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, requests);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/** A local HTTP CONNECT proxy that counts the tunnels it opened. */
export async function withConnectProxy<T>(use: (url: string, tunnels: string[]) => Promise<T>): Promise<T> {
  const tunnels: string[] = [];
  const server = createServer((_req, res) => {
    res.statusCode = 405;
    res.end();
  });
  const sockets = new Set<{ destroy(): void }>();
  server.on('connect', (req, client, head) => {
    tunnels.push(req.url ?? '');
    sockets.add(client);
    const [host, port] = (req.url ?? '').split(':');
    const upstream = netConnect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, tunnels);
  } finally {
    for (const s of sockets) s.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/** A fake sendmail: records its arguments and standard input in files, exits 0. */
function fakeSendmail(): { path: string; args: string; input: string } {
  const base = scratchPath(`fake-sendmail-${Math.random().toString(36).slice(2)}`);
  const script = `${base}.sh`;
  writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$@" > '${base}.args'\ncat > '${base}.in'\n`);
  chmodSync(script, 0o755);
  return { path: script, args: `${base}.args`, input: `${base}.in` };
}

// The plugin is CommonJS without types: loaded as its users load it.
const { htmlToText } = createRequire(import.meta.url)('nodemailer-html-to-text') as {
  htmlToText: (options?: object) => (mail: unknown, done: (err?: Error) => void) => void;
};

export const smtp = (t: Target, extra: object = {}) => ({ host: t.host, port: t.port, tls: t.tls, ...extra });

export const transportExamples: Example[] = [
  {
    name: 'README quick start (STARTTLS, login, text + html)',
    kind: 'feature',
    server: { users: { 'maddison53@ethereal.email': 'jn7jnAPss4f63QBp6D' } },
    run: (nm, t) =>
      sendOne(
        nm.createTransport({
          host: t.host,
          port: t.port,
          secure: false,
          auth: { user: 'maddison53@ethereal.email', pass: 'jn7jnAPss4f63QBp6D' },
          tls: t.tls,
        }),
        {
          from: '"Maddison Foo Koch 👻" <maddison53@ethereal.email>',
          to: 'bar@example.com, baz@example.com',
          subject: 'Hello ✔',
          html: '<b>Hello world?</b>',
        },
      ),
  },
  {
    name: 'service: well-known providers resolve to the same host, port and TLS mode',
    kind: 'feature',
    run: async (nm) => {
      const names = [
        'gmail',
        'Outlook365',
        'hotmail',
        'SES-US-EAST-1',
        'SendGrid',
        'Mailgun',
        'Postmark',
        'Zoho',
        'Yahoo',
        'iCloud',
        'Fastmail',
        'Mailjet',
        'Sendinblue',
        'Brevo',
        'me@gmail.com',
      ];
      return names.map((service) => {
        const t = nm.createTransport({ service, auth: { user: 'u', pass: 'p' } });
        const o = t.transporter.options;
        t.close();
        return { service, host: o.host, port: o.port, secure: Boolean(o.secure) };
      });
    },
    view: (v) => v,
  },
  {
    name: 'URL string',
    kind: 'feature',
    server: { users: { user: 'pass' } },
    run: (nm, t) => sendOne(nm.createTransport(`smtp://user:pass@${t.host}:${t.port}/?tls.rejectUnauthorized=false`)),
  },
  {
    name: 'url option with query options',
    kind: 'feature',
    run: (nm, t) =>
      sendOne(nm.createTransport({ url: `smtp://${t.host}:${t.port}/?pool=true&maxConnections=1`, tls: t.tls })),
  },
  {
    name: 'OAuth2 token refresh and the token event',
    kind: 'feature',
    server: { users: { 'me@example.com': 'fresh-token' } },
    run: (nm, t) =>
      withTokenEndpoint(async (accessUrl, requests) => {
        const transporter = nm.createTransport(
          smtp(t, {
            auth: {
              type: 'OAuth2',
              user: 'me@example.com',
              clientId: 'cid',
              clientSecret: 'secret',
              refreshToken: 'refresh-1',
              accessUrl,
            },
          }),
        );
        const tokens: unknown[] = [];
        transporter.on('token', (token: { user: string; accessToken: string; expires: number }) =>
          tokens.push({ user: token.user, accessToken: token.accessToken, expires: typeof token.expires }),
        );
        const info = await sendOne(transporter);
        return {
          info: infoView(info as Record<string, unknown>),
          tokens,
          form: requests.map((r) => Object.fromEntries(new URLSearchParams(r))),
        };
      }),
    view: (v, messages) => ({ ...(v as object), user: messages[0]?.user }),
  },
  {
    name: 'logger and debug: a protocol log without secrets',
    kind: 'feature',
    server: { users: { user: 'very-secret-password' } },
    run: async (nm, t) => {
      const lines: string[] = [];
      const log = (_data: unknown, ...args: unknown[]) => lines.push(args.map(String).join(' '));
      const logger = { trace: log, debug: log, info: log, warn: log, error: log, fatal: log, level: () => {} };
      await sendOne(
        nm.createTransport(smtp(t, { auth: { user: 'user', pass: 'very-secret-password' }, logger, debug: true })),
      );
      const all = lines.join('\n');
      const secret = Buffer.from('\0user\0very-secret-password').toString('base64');
      return {
        logged: lines.length > 5,
        ehlo: /EHLO/.test(all),
        secretShown: all.includes('very-secret-password') || all.includes(secret),
      };
    },
    view: (v) => v,
  },
  {
    name: 'jsonTransport',
    kind: 'feature',
    run: async (nm) => {
      const info = await nm.createTransport({ jsonTransport: true }).sendMail({
        from: 'Sender <sender@example.com>',
        to: 'rcpt@example.com',
        subject: 'json',
        text: 'body',
        html: '<p>body</p>',
        attachments: [{ filename: 'a.txt', content: 'attached' }],
      });
      const m = JSON.parse(info.message);
      return {
        envelope: info.envelope,
        from: m.from,
        to: m.to,
        subject: m.subject,
        text: m.text,
        html: m.html,
        attachment: m.attachments?.[0],
        messageId: typeof m.messageId,
      };
    },
    view: (v) => v,
  },
  {
    name: 'streamTransport with buffer',
    kind: 'feature',
    run: async (nm) => {
      const info = await nm
        .createTransport({ streamTransport: true, buffer: true })
        .sendMail({ from: 'sender@example.com', to: 'rcpt@example.com', subject: 'stream', text: 'streamed ✔' });
      const message = await messageView(info.message);
      // Deliberate difference: smtpwire never writes a Bcc field, not even to a stream.
      delete message.headers.bcc;
      return { envelope: info.envelope, buffer: Buffer.isBuffer(info.message), message };
    },
    view: (v) => v,
  },
  {
    name: 'streamTransport with unix newlines',
    kind: 'feature',
    run: async (nm) => {
      const info = await nm
        .createTransport({ streamTransport: true, newline: 'unix' })
        .sendMail({ from: 'sender@example.com', to: 'rcpt@example.com', subject: 'lf', text: 'a\r\nb' });
      const chunks: Buffer[] = [];
      for await (const c of info.message) chunks.push(Buffer.from(c));
      const raw = Buffer.concat(chunks).toString();
      return { crlf: raw.includes('\r\n'), lf: raw.includes('\n') };
    },
    view: (v) => v,
  },
  {
    name: 'sendmail transport (-i -f, message on stdin)',
    kind: 'feature',
    run: async (nm) => {
      const fake = fakeSendmail();
      const info = await nm.createTransport({ sendmail: true, path: fake.path }).sendMail({
        from: 'sender@example.com',
        to: 'a@example.com, b@example.com',
        subject: 'sendmail',
        text: 'local',
      });
      const input = readFileSync(fake.input);
      const { headers: _h, ...message } = await messageView(input);
      return {
        info: { envelope: info.envelope, response: info.response },
        args: readFileSync(fake.args, 'utf8').trim().split('\n'),
        lf: !input.includes('\r\n'),
        message,
      };
    },
    view: (v) => v,
  },
  {
    name: "pool: the documented 'idle' queue pattern sends 8 of 8",
    kind: 'feature',
    run: async (nm, t) => {
      const transporter = nm.createTransport(smtp(t, { pool: true, maxConnections: 2 }));
      const messages = Array.from({ length: 8 }, (_, i) => ({
        from: 'sender@example.com',
        to: 'rcpt@example.com',
        subject: `queued ${i}`,
        text: 'x',
      }));
      let sent = 0;
      await new Promise<void>((resolve) => {
        transporter.on('idle', () => {
          while (transporter.isIdle() && messages.length) {
            transporter.sendMail(messages.shift()).then(() => {
              if (++sent === 8) resolve();
            });
          }
        });
        setTimeout(resolve, 5000);
      });
      transporter.close();
      return { sent };
    },
    view: (v, messages) => ({ ...(v as object), received: messages.length }),
  },
  {
    name: 'createTransport(options, defaults) with headers merged',
    kind: 'feature',
    run: async (nm, t) => {
      const transporter = nm.createTransport(smtp(t), {
        from: 'defaults@example.com',
        headers: { 'X-Default': 'from defaults' },
      });
      const info = await transporter.sendMail({
        to: 'rcpt@example.com',
        subject: 'd',
        text: 'x',
        headers: { 'X-Own': 'from the message' },
      });
      transporter.close();
      return info;
    },
  },
  {
    name: 'pool with rateDelta / rateLimit',
    kind: 'feature',
    run: async (nm, t) => {
      const transporter = nm.createTransport(smtp(t, { pool: true, maxConnections: 1, rateLimit: 2, rateDelta: 300 }));
      const started = Date.now();
      const infos = await Promise.all(
        [1, 2, 3].map((i) =>
          transporter.sendMail({ from: 'sender@example.com', to: 'rcpt@example.com', subject: `r${i}`, text: 'x' }),
        ),
      );
      transporter.close();
      // Three messages at two per 300 ms: the third waits (nodemailer for the window, the engine's
      // token bucket for one token, 150 ms).
      return { sent: infos.length, limited: Date.now() - started >= 140 };
    },
    view: (v) => v,
  },
  {
    name: 'pool: maxConnections and maxMessages',
    kind: 'feature',
    run: async (nm, t) => {
      const transporter = nm.createTransport(smtp(t, { pool: true, maxConnections: 2, maxMessages: 2 }));
      const infos = await Promise.all(
        [1, 2, 3, 4, 5, 6].map((i) =>
          transporter.sendMail({ from: 'sender@example.com', to: 'rcpt@example.com', subject: `m${i}`, text: 'x' }),
        ),
      );
      transporter.close();
      return { sent: infos.length, maxOpen: t.server.maxOpen <= 2, reconnected: t.server.connections >= 3 };
    },
    view: (v) => v,
  },
  {
    name: 'dkim in nodemailer form',
    kind: 'feature',
    run: (nm, t) =>
      sendOne(
        nm.createTransport(
          smtp(t, { dkim: { domainName: 'example.com', keySelector: 'rsa2048', privateKey: DKIM_KEYS.rsa2048 } }),
        ),
      ),
    view: async (_v, messages) => {
      const raw = messages[0]!.raw;
      const sig = /^DKIM-Signature:([\s\S]*?)\r\n(?=\S)/m.exec(raw.toString())?.[1] ?? '';
      return {
        verified: await mailauthVerify(raw, fixtureRecords()),
        d: /d=example\.com/.test(sig),
        s: /s=rsa2048/.test(sig),
      };
    },
  },
  {
    name: 'disableFileAccess',
    kind: 'feature',
    run: (nm, t) =>
      sendOne(nm.createTransport(smtp(t, { disableFileAccess: true })), { attachments: [{ path: '/etc/hostname' }] }),
  },
  {
    name: 'disableUrlAccess',
    kind: 'feature',
    run: (nm, t) =>
      sendOne(nm.createTransport(smtp(t, { disableUrlAccess: true })), { html: { href: 'http://127.0.0.1:9/x' } }),
  },
  {
    name: "use('compile', nodemailer-html-to-text)",
    kind: 'feature',
    run: (nm, t) => {
      const transporter = nm.createTransport(smtp(t));
      transporter.use('compile', htmlToText());
      return sendOne(transporter, {
        text: undefined,
        html: '<h1>Title</h1><p>Paragraph with <a href="https://example.com">a link</a></p>',
      });
    },
  },
  {
    name: "use('stream', plugin) transforming the message",
    kind: 'feature',
    run: (nm, t) => {
      const transporter = nm.createTransport(smtp(t));
      transporter.use('stream', (mail: { message: { transform: (f: () => Transform) => void } }, done: () => void) => {
        mail.message.transform(
          () =>
            new Transform({
              transform(chunk, _enc, cb) {
                cb(null, Buffer.from(chunk.toString().replace('PLACEHOLDER', 'replaced')));
              },
            }),
        );
        done();
      });
      return sendOne(transporter, { text: 'PLACEHOLDER' });
    },
    view: async (_v, messages) => ({ text: (await receivedView(messages[0]!)).message.text }),
  },
  {
    name: 'LMTP',
    kind: 'feature',
    server: { lmtp: true },
    run: (nm, t) => sendOne(nm.createTransport(smtp(t, { lmtp: true })), { to: ['a@example.com', 'b@example.com'] }),
  },
  {
    name: 'proxy: HTTP CONNECT',
    kind: 'feature',
    run: (nm, t) =>
      withConnectProxy(async (proxy, tunnels) => {
        const info = await sendOne(nm.createTransport(smtp(t, { proxy })));
        return { info: infoView(info as Record<string, unknown>), tunnels: tunnels.length };
      }),
  },
  {
    name: 'createTestAccount unreachable, getTestMessageUrl for another server',
    kind: 'feature',
    run: async (nm, t) => {
      const err = await nm.createTestAccount('http://127.0.0.1:9').catch((e: Error) => e);
      const info = await sendOne(nm.createTransport(smtp(t)));
      return {
        failed: err instanceof Error,
        url: nm.getTestMessageUrl(info),
        ethereal: nm.getTestMessageUrl({ response: '250 Accepted [STATUS=new MSGID=abc]' }),
      };
    },
    view: (v) => v,
  },
  {
    name: 'verify() as a promise and callbacks for sendMail',
    kind: 'feature',
    run: async (nm, t) => {
      const transporter = nm.createTransport(smtp(t));
      const ok = await transporter.verify();
      const info = await new Promise((resolve, reject) =>
        transporter.sendMail(
          { from: 'a@example.com', to: 'b@example.com', text: 'cb' },
          (err: Error | null, i: unknown) => (err ? reject(err) : resolve(i)),
        ),
      );
      transporter.close();
      return [info, { verified: ok }];
    },
  },
];
