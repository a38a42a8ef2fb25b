/**
 * nodemailer's documented message fields, one program each, in nodemailer's style.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { simpleParser } from 'mailparser';
import { type Example, type Nodemailer, scratchPath, type Target } from './harness.js';

const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

function transport(nodemailer: Nodemailer, t: Target, extra: object = {}) {
  return nodemailer.createTransport({ host: t.host, port: t.port, tls: t.tls, ...extra });
}

/** Sends one message with the fields given, closes, returns info. */
async function send(nodemailer: Nodemailer, t: Target, fields: object, extra: object = {}) {
  const transporter = transport(nodemailer, t, extra);
  try {
    return await transporter.sendMail({
      from: 'sender@example.com',
      to: 'rcpt@example.com',
      subject: 'Fields',
      ...fields,
    });
  } finally {
    transporter.close();
  }
}

/** A local web server for `href` sources: `/x?…` answers with the query `body`, echoes one request header. */
export async function withWebServer<T>(use: (base: string) => Promise<T>): Promise<T> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/png') {
      res.setHeader('content-type', 'image/png');
      res.end(PNG);
      return;
    }
    if (url.pathname === '/auth' && req.headers['x-token'] !== 'secret') {
      res.statusCode = 403;
      res.end('no');
      return;
    }
    res.setHeader('content-type', 'text/plain');
    res.end(url.searchParams.get('body') ?? 'from the web');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

const file = (name: string, content: string | Buffer): string => {
  const path = scratchPath(name);
  writeFileSync(path, content);
  return path;
};

export const fieldExamples: Example[] = [
  {
    name: 'sender',
    kind: 'feature',
    run: (nm, t) => send(nm, t, { sender: '"List Bot" <bot@example.com>', text: 'x' }),
  },
  {
    name: 'encoding: base64 text and html strings',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        encoding: 'base64',
        text: Buffer.from('Plain ✔').toString('base64'),
        html: Buffer.from('<b>Bold ✔</b>').toString('base64'),
      }),
  },
  {
    name: 'textEncoding: base64',
    kind: 'feature',
    run: (nm, t) => send(nm, t, { textEncoding: 'base64', text: 'Hello ✔ world', html: '<p>Hello ✔</p>' }),
  },
  {
    name: 'attachDataUrls',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        attachDataUrls: true,
        html: `<p>Logo <img src="data:image/png;base64,${PNG.toString('base64')}"></p>`,
      }),
  },
  {
    name: 'headers with arrays',
    kind: 'feature',
    run: (nm, t) => send(nm, t, { text: 'x', headers: { 'X-Tag': ['one', 'two'], 'x-single': 'solo ✔' } }),
  },
  {
    name: 'headers setting Subject and Message-ID',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        subject: undefined,
        text: 'x',
        headers: { Subject: 'From the headers ✔', 'Message-ID': '<hdr-1@example.com>' },
      }),
  },
  {
    name: 'headers: prepared values and the array form',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        text: 'x',
        headers: [
          { key: 'X-Prepared', value: { prepared: true, value: 'kept  as   is' } },
          { key: 'X-Listed', value: 'listed' },
        ],
      }),
  },
  {
    name: 'html and text from a file path',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        html: { path: file('body.html', '<h1>From a file</h1>') },
        text: { path: file('body.txt', 'From a file') },
      }),
  },
  {
    name: 'text from a stream',
    kind: 'feature',
    run: (nm, t) => send(nm, t, { text: Readable.from([Buffer.from('streamed '), Buffer.from('text')]) }),
  },
  {
    name: 'html from href',
    kind: 'feature',
    run: (nm, t) =>
      withWebServer((base) => send(nm, t, { html: { href: `${base}/x?body=${encodeURIComponent('<i>web</i>')}` } })),
  },
  {
    name: 'html as Buffer and text as { content, encoding }',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        html: Buffer.from('<u>buffer</u>'),
        text: { content: Buffer.from('encoded text').toString('hex'), encoding: 'hex' },
      }),
  },
  {
    name: 'amp',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, { text: 't', html: '<p>h</p>', amp: '<!doctype html><html ⚡4email><body>amp</body></html>' }),
    view: async (_v, messages) => ({ amp: messages[0]?.raw.toString().includes('text/x-amp-html') }),
  },
  {
    name: 'watchHtml',
    kind: 'feature',
    run: (nm, t) => send(nm, t, { text: 't', html: '<p>h</p>', watchHtml: '<b>watch</b>' }),
    view: async (_v, messages) => ({ watch: messages[0]?.raw.toString().includes('text/watch-html') }),
  },
  {
    name: 'attachments by href with httpHeaders',
    kind: 'feature',
    run: (nm, t) =>
      withWebServer((base) =>
        send(nm, t, {
          text: 'x',
          attachments: [
            { filename: 'web.txt', href: `${base}/auth?body=authorised`, httpHeaders: { 'X-Token': 'secret' } },
            { href: `${base}/png`, filename: 'pixel.png' },
          ],
        }),
      ),
  },
  {
    name: 'attachments from a stream and from a file path',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        text: 'x',
        attachments: [
          { filename: 'streamed.txt', content: Readable.from([Buffer.from('chunk one, '), Buffer.from('chunk two')]) },
          { path: file('report.csv', 'a,b\n1,2\n') },
        ],
      }),
  },
  {
    name: 'attachment as a data: URI path',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        text: 'x',
        attachments: [{ filename: 'pixel.png', path: `data:image/png;base64,${PNG.toString('base64')}` }],
      }),
  },
  {
    name: 'contentTransferEncoding on an attachment',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        text: 'x',
        attachments: [{ filename: 'notes.txt', content: 'quoted ✔ text', contentTransferEncoding: 'quoted-printable' }],
      }),
  },
  {
    name: 'raw attachment and raw alternative',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        text: 'x',
        attachments: [
          {
            raw: 'Content-Type: text/plain; name="raw.txt"\r\nContent-Disposition: attachment; filename="raw.txt"\r\nContent-Transfer-Encoding: base64\r\n\r\ncmF3IHBhcnQ=\r\n',
          },
        ],
        alternatives: [{ raw: 'Content-Type: text/x-extra\r\n\r\nextra part\r\n' }],
      }),
    view: async (_v, messages) => {
      const raw = messages[0]?.raw.toString() ?? '';
      return { rawAttachment: /raw\.txt/.test(raw), extra: raw.includes('text/x-extra') };
    },
  },
  {
    name: 'raw parts keep their Content-Type parameters (a Latin-1 part stays Latin-1)',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        text: 'x',
        attachments: [
          {
            raw: 'Content-Type: text/plain; charset=iso-8859-1; name="l1.txt"\r\nContent-Disposition: attachment; filename="l1.txt"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9\r\n',
          },
        ],
        alternatives: [{ raw: 'Content-Type: text/x-extra; charset=iso-8859-1; format=flowed\r\n\r\nextra part\r\n' }],
      }),
    view: async (_v, messages) => {
      const parsed = await simpleParser(messages[0]?.raw ?? '');
      const attachment = parsed.attachments.find((a) => a.filename === 'l1.txt');
      const params = (attachment?.headers.get('content-type') as { params?: Record<string, string> } | undefined)
        ?.params;
      const raw = messages[0]?.raw.toString('latin1') ?? '';
      return {
        charset: params?.charset ?? null,
        text: attachment ? new TextDecoder('latin1').decode(attachment.content) : null,
        extraParams: /text\/x-extra;[^\r\n]*charset=iso-8859-1/i.test(raw.replace(/\r\n[ \t]+/g, ' ')),
      };
    },
  },
  {
    name: 'list headers in every documented form',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        text: 'x',
        list: {
          help: 'admin@example.com?subject=help',
          unsubscribe: [{ url: 'http://example.com/unsubscribe', comment: 'Unsubscribe' }, 'unsubscribe@example.com'],
          subscribe: [
            'admin@example.com?subject=subscribe',
            { url: 'http://example.com/subscribe', comment: 'Subscribe' },
          ],
          post: [['http://example.com/post', { url: 'admin@example.com?subject=post', comment: 'Post' }]],
          id: { url: 'mylist.example.com', comment: 'This is my awesome list' },
        },
      }),
  },
  {
    name: 'normalizeHeaderKey',
    kind: 'feature',
    run: (nm, t) =>
      send(
        nm,
        t,
        { text: 'x', headers: { 'x-custom-key': 'v' } },
        { normalizeHeaderKey: (k: string) => k.toUpperCase() },
      ),
    view: async (_v, messages) => ({ upper: /^X-CUSTOM-KEY: v$/m.test(messages[0]?.raw.toString() ?? '') }),
  },
  {
    name: 'priority',
    kind: 'feature',
    run: (nm, t) => send(nm, t, { text: 'x', priority: 'high' }),
  },
  {
    name: 'icalEvent',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        text: 'Invitation',
        icalEvent: {
          method: 'request',
          content:
            'BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:Meet\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n',
        },
      }),
    view: async (_v, messages) => ({
      calendar: /text\/calendar; (charset=utf-8; )?method=REQUEST/i.test(messages[0]?.raw.toString() ?? ''),
    }),
  },
  {
    name: 'envelope override',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        text: 'x',
        envelope: { from: 'bounces@example.com', to: ['rcpt@example.com', 'other@example.com'] },
      }),
  },
  {
    name: 'raw message',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        envelope: { from: 'sender@example.com', to: ['rcpt@example.com'] },
        raw: 'From: sender@example.com\r\nTo: rcpt@example.com\r\nSubject: raw\r\nMessage-ID: <raw-1@example.com>\r\n\r\nRaw body\r\n',
      }),
  },
  {
    name: 'Unicode domain: info in wire form',
    kind: 'feature',
    run: (nm, t) => send(nm, t, { to: 'user@bücher.example', text: 'x' }),
  },
  {
    name: 'references, inReplyTo, replyTo, cc, bcc',
    kind: 'feature',
    run: (nm, t) =>
      send(nm, t, {
        to: ['a@example.com', { name: 'Bee, B', address: 'b@example.com' }],
        cc: 'Carbon <cc@example.com>',
        bcc: 'hidden@example.com',
        replyTo: 'replies@example.com',
        inReplyTo: '<parent@example.com>',
        references: ['<root@example.com>', '<parent@example.com>'],
        text: 'x',
      }),
  },
];
