/**
 * smtpwire/nodemailer beyond the side-by-side suite: what nodemailer cannot be run against here
 * (SOCKS without its optional module, OAuth2 refusal and renewal, DSN pending the engine), and the
 * translation tables as pure functions.
 */
import { createServer } from 'node:http';
import { type AddressInfo, connect as netConnect } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultHeaderKey, envelopeOf } from '../../src/compat/nodemailer/compose.js';
import { engineDsn } from '../../src/compat/nodemailer/dsn.js';
import { mergeDefaults } from '../../src/compat/nodemailer/mail-message.js';
import { OAuth2Token } from '../../src/compat/nodemailer/oauth2.js';
import { wellKnown } from '../../src/compat/nodemailer/services.js';
import {
  handlerOptions,
  normalizeTransportOptions,
  parseConnectionUrl,
} from '../../src/compat/nodemailer/transport-options.js';
import nodemailer, { createTransport } from '../../src/compat/nodemailer.js';
import { testCertificates } from '../../src/testing/certs.js';
import { startScriptedServer } from '../../src/testing/index.js';
import { startSmtpServer, type TestServer, type TestServerOptions } from '../helpers/smtp-server.js';
import { startSocksProxy } from './socks-proxy.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(options: TestServerOptions = {}): Promise<TestServer> {
  const s = await startSmtpServer(options);
  cleanups.push(() => s.close());
  return s;
}
const tls = () => ({ ca: testCertificates().ca, servername: 'localhost' });
const mail = { from: 'sender@example.com', to: 'rcpt@example.com', subject: 's', text: 'x' };

/** A token endpoint answering each refresh with the next token of `tokens`. */
async function tokenEndpoint(tokens: string[]): Promise<{ url: string; forms: URLSearchParams[] }> {
  const forms: URLSearchParams[] = [];
  const http = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      forms.push(new URLSearchParams(body));
      const token = tokens.shift();
      res.setHeader('content-type', 'application/json');
      if (token === undefined) {
        res.statusCode = 400;
        res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'Token has been revoked' }));
      } else res.end(JSON.stringify({ access_token: token, expires_in: 3600 }));
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => http.close(() => r())));
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/token`, forms };
}

describe('OAuth2 token refresh', () => {
  it('a refused access token is renewed once and the message sent; the token event tells the new one', async () => {
    const s = await server({ users: { 'me@example.com': 'fresh-token' } });
    const endpoint = await tokenEndpoint(['fresh-token']);
    const t = createTransport({
      host: '127.0.0.1',
      port: s.port,
      tls: tls(),
      auth: {
        type: 'OAuth2',
        user: 'me@example.com',
        accessToken: 'stale-token',
        clientId: 'cid',
        clientSecret: 'cs',
        refreshToken: 'rt',
        accessUrl: endpoint.url,
      },
    });
    cleanups.push(() => t.close());
    const tokens: { accessToken: string; expires: number }[] = [];
    t.on('token', (tk: { accessToken: string; expires: number }) => tokens.push(tk));
    const info = await t.sendMail(mail);
    expect(info.accepted).toEqual(['rcpt@example.com']);
    expect(tokens).toEqual([expect.objectContaining({ user: 'me@example.com', accessToken: 'fresh-token' })]);
    expect(tokens[0]!.expires).toBeGreaterThan(Date.now());
    expect(Object.fromEntries(endpoint.forms[0]!)).toEqual({
      client_id: 'cid',
      client_secret: 'cs',
      refresh_token: 'rt',
      grant_type: 'refresh_token',
    });
    expect(s.messages).toHaveLength(1);
  });

  it('an expired token is refreshed before the login; a revoked refresh token is EAUTH saying why', async () => {
    const s = await server({ users: { 'me@example.com': 'fresh-token' } });
    const endpoint = await tokenEndpoint(['fresh-token']);
    const auth = {
      type: 'OAuth2' as const,
      user: 'me@example.com',
      accessToken: 'old',
      expires: Date.now() - 1000,
      refreshToken: 'rt',
      accessUrl: endpoint.url,
    };
    const t = createTransport({ host: '127.0.0.1', port: s.port, tls: tls(), auth });
    cleanups.push(() => t.close());
    await t.sendMail(mail);
    expect(endpoint.forms).toHaveLength(1);
    const revoked = createTransport({ host: '127.0.0.1', port: s.port, tls: tls(), auth: { ...auth, expires: 1 } });
    cleanups.push(() => revoked.close());
    await expect(revoked.sendMail(mail)).rejects.toMatchObject({
      code: 'EAUTH',
      message: expect.stringContaining('invalid_grant'),
    });
  });

  it('a token endpoint answering JSON null is EAUTH (no access_token), not a TypeError', async () => {
    const http = createServer((_req, res) => res.end('null'));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => http.close(() => r())));
    const token = new OAuth2Token({
      refreshToken: 'rt',
      accessUrl: `http://127.0.0.1:${(http.address() as AddressInfo).port}/token`,
    });
    await expect(token.getToken()).rejects.toMatchObject({
      code: 'EAUTH',
      message: expect.stringContaining('no access_token'),
    });
  });

  it('provisionCallback gives the token', async () => {
    const s = await server({ users: { 'me@example.com': 'provisioned' } });
    const calls: [string, boolean][] = [];
    const t = createTransport({
      host: '127.0.0.1',
      port: s.port,
      tls: tls(),
      auth: {
        type: 'OAuth2',
        user: 'me@example.com',
        provisionCallback: (
          user: string,
          renew: boolean,
          cb: (e: Error | null, token?: string, expires?: number) => void,
        ) => {
          calls.push([user, renew]);
          cb(null, 'provisioned', Date.now() + 60_000);
        },
      } as never,
    });
    cleanups.push(() => t.close());
    expect(await t.verify()).toBe(true);
    expect(calls).toEqual([['me@example.com', false]]);
  });
});

describe('OAuth2 provisioning set on the transporter', () => {
  it("transporter.set('oauth2_provision_cb', fn) is asked for the token", async () => {
    const s = await server({ users: { 'me@example.com': 'from-set' } });
    const t = createTransport({
      host: '127.0.0.1',
      port: s.port,
      tls: tls(),
      auth: { type: 'OAuth2', user: 'me@example.com' },
    });
    cleanups.push(() => t.close());
    t.set('oauth2_provision_cb', (_user: string, _renew: boolean, cb: (e: Error | null, token?: string) => void) =>
      cb(null, 'from-set'),
    );
    expect((await t.sendMail(mail)).accepted).toEqual(['rcpt@example.com']);
  });
});

describe('proxy clients on net (nodemailer needs the socks module for these)', () => {
  for (const [scheme, creds] of [
    ['socks5', undefined],
    ['socks5', { user: 'proxy-user', pass: 'proxy-pass' }],
    ['socks4', undefined],
  ] as const) {
    it(`${scheme}${creds ? ' with a user name and password' : ''}`, async () => {
      const s = await server();
      const proxy = await startSocksProxy(creds);
      cleanups.push(() => proxy.close());
      const auth = creds ? `${creds.user}:${creds.pass}@` : '';
      const t = createTransport({
        host: 'localhost',
        port: s.port,
        tls: tls(),
        proxy: `${scheme}://${auth}127.0.0.1:${proxy.port}`,
      });
      cleanups.push(() => t.close());
      const info = await t.sendMail(mail);
      expect(info.accepted).toEqual(['rcpt@example.com']);
      expect(s.messages[0]?.secure).toBe(true);
      expect(proxy.requests).toEqual([
        { version: scheme === 'socks4' ? 4 : 5, host: 'localhost', port: s.port, user: creds?.user ?? '' },
      ]);
    });
  }

  it("https: CONNECT through a TLS proxy, reached with the transport's tls options", async () => {
    const s = await server();
    const tunnels: string[] = [];
    const certs = testCertificates();
    const proxy = createTlsServer({ key: certs.key, cert: certs.cert }, (client) => {
      let head = '';
      const onData = (chunk: Buffer) => {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        client.off('data', onData);
        const target = /^CONNECT (\S+) HTTP/.exec(head)?.[1] ?? '';
        tunnels.push(target);
        const [host, port] = target.split(':');
        const upstream = netConnect(Number(port), host === 'localhost' ? '127.0.0.1' : host, () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          upstream.pipe(client);
          client.pipe(upstream);
        });
        upstream.on('error', () => client.destroy());
        cleanups.push(() => {
          upstream.destroy();
          client.destroy();
        });
      };
      client.on('data', onData);
      client.on('error', () => {});
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => proxy.close(() => r())));
    const port = (proxy.address() as AddressInfo).port;
    const t = createTransport({ host: 'localhost', port: s.port, tls: tls(), proxy: `https://127.0.0.1:${port}` });
    cleanups.push(() => t.close());
    expect((await t.sendMail(mail)).accepted).toEqual(['rcpt@example.com']);
    expect(tunnels).toEqual([`localhost:${s.port}`]);
  });

  it('a SOCKS5 proxy refusing the password fails the send with a connection error, nothing sent', async () => {
    const s = await server();
    const proxy = await startSocksProxy({ user: 'u', pass: 'right' });
    cleanups.push(() => proxy.close());
    const t = createTransport({ host: 'localhost', port: s.port, proxy: `socks5://u:wrong@127.0.0.1:${proxy.port}` });
    cleanups.push(() => t.close());
    await expect(t.sendMail(mail)).rejects.toMatchObject({
      code: 'ECONNECTION',
      message: expect.stringContaining('refused the user name'),
    });
    expect(s.messages).toHaveLength(0);
  });
});

describe('DSN (nodemailer form → the engine’s { ret, envid, notify, orcpt })', () => {
  it('translates every documented form', () => {
    expect(
      engineDsn({ id: 'env-1', return: 'headers', notify: ['success', 'failure'], recipient: 'a@example.com' }),
    ).toEqual({
      envid: 'env-1',
      ret: 'HDRS',
      notify: ['SUCCESS', 'FAILURE'],
      orcpt: true,
    });
    expect(engineDsn({ return: 'full', notify: 'delay' })).toEqual({ ret: 'FULL', notify: ['DELAY'] });
    expect(engineDsn(undefined)).toBeNull();
    expect(() => engineDsn({ notify: ['never', 'success'] })).toThrow(/NEVER/);
    expect(() => engineDsn({ return: 'body' })).toThrow(/headers' or 'full/);
  });

  it('dsn on sendMail: requested on the wire (RET, ENVID on MAIL; NOTIFY on RCPT)', async () => {
    const args: Record<string, unknown>[] = [];
    const s = await server({
      hideDSN: false,
      onMailFrom(address, _session, cb) {
        args.push({ mail: address.args });
        cb();
      },
      onRcptTo(address, _session, cb) {
        args.push({ rcpt: address.args });
        cb();
      },
    });
    const t = createTransport({ host: '127.0.0.1', port: s.port, tls: tls() });
    cleanups.push(() => t.close());
    const sent = t.sendMail({ ...mail, dsn: { id: 'env-1', return: 'headers', notify: ['failure'] } });
    await sent;
    expect(s.messages).toHaveLength(1);
    // The request must reach the wire: an engine that dropped it would fail here.
    expect(args).toEqual([
      { mail: expect.objectContaining({ RET: 'HDRS', ENVID: 'env-1' }) },
      { rcpt: expect.objectContaining({ NOTIFY: 'FAILURE' }) },
    ]);
  });
});

describe('translation tables', () => {
  it('well-known services by name, alias and mail domain', () => {
    expect(wellKnown('gmail')).toEqual({ host: 'smtp.gmail.com', port: 465, secure: true });
    expect(wellKnown('someone@googlemail.com')).toEqual(wellKnown('Gmail'));
    expect(wellKnown('Outlook365')).toMatchObject({ host: 'smtp.office365.com', port: 587 });
    expect(wellKnown('SES-EU-WEST-1')).toMatchObject({ host: 'email-smtp.eu-west-1.amazonaws.com' });
    expect(wellKnown('Sendinblue')).toEqual(wellKnown('brevo'));
    expect(wellKnown('nope')).toBe(false);
  });

  it('connection URLs: scheme, credentials, query options and tls.*', () => {
    expect(
      parseConnectionUrl(
        'smtps://u%40x:p%3Aw@mail.example.com:2465/?pool=true&maxConnections=3&tls.rejectUnauthorized=false&name=box',
      ),
    ).toEqual({
      secure: true,
      port: 2465,
      host: 'mail.example.com',
      auth: { user: 'u@x', pass: 'p:w' },
      pool: true,
      maxConnections: 3,
      tls: { rejectUnauthorized: false },
      name: 'box',
    });
    // nodemailer's order: the caller's options, then the URL's, then the service's.
    expect(normalizeTransportOptions({ url: 'smtp://a.example:25', host: 'ignored', service: 'gmail' })).toMatchObject({
      host: 'smtp.gmail.com',
      port: 465,
      secure: true,
      kind: 'smtp',
    });
  });

  it('handler options: a queued message waits for a connection as long as it takes; rate limits only with pool', () => {
    const pooled = handlerOptions(
      normalizeTransportOptions({ pool: true, maxConnections: 2, rateLimit: 5, rateDelta: 2000 }),
    );
    expect(pooled.pool).toMatchObject({
      acquireTimeout: Number.POSITIVE_INFINITY,
      rateLimit: { messages: 5, interval: 2000 },
    });
    expect(pooled.poolSize).toBe(2);
    const single = handlerOptions(normalizeTransportOptions({ rateLimit: 5 }));
    expect(single.pool).toEqual({ maxMessagesPerConnection: 1, acquireTimeout: Number.POSITIVE_INFINITY });
    expect(handlerOptions(normalizeTransportOptions({ socketTimeout: 1000, dnsTimeout: 500 })).timeouts).toEqual({
      connect: 500,
      command: 1000,
      dataIdle: 1000,
      finalReply: 1000,
    });
  });

  it('defaults: headers merged key by key, the message wins; sandbox flags only tighten', () => {
    const merged = mergeDefaults(
      { to: 'a@example.com', headers: { 'X-A': 'message' }, disableFileAccess: false },
      { from: 'd@example.com', headers: { 'X-A': 'default', 'X-B': 'default' }, disableFileAccess: true },
      {},
    );
    expect(merged).toMatchObject({
      from: 'd@example.com',
      headers: { 'X-A': 'message', 'X-B': 'default' },
      disableFileAccess: true,
    });
  });

  it("header names in nodemailer's spelling; the envelope from From, else Sender / Reply-To, in punycode", () => {
    expect(['x-custom', 'list-id', 'mime-version', 'x-smtpapi', 'content-features'].map(defaultHeaderKey)).toEqual([
      'X-Custom',
      'List-ID',
      'MIME-Version',
      'X-SMTPAPI',
      'Content-features',
    ]);
    expect(
      envelopeOf({ sender: 'Bot <bot@bücher.example>', to: ['a@example.com', 'A@example.com', 'a@example.com'] }),
    ).toEqual({
      from: 'bot@xn--bcher-kva.example',
      to: ['a@example.com', 'A@example.com'],
    });
  });

  it('getTestMessageUrl: false for other replies; createTestAccount says the service cannot be reached', async () => {
    expect(nodemailer.getTestMessageUrl({ response: '250 2.0.0 Ok: queued as 4F2A1' })).toBe(false);
    expect(nodemailer.getTestMessageUrl({ response: '250 Accepted [STATUS=new MSGID=Yx1]' })).toBe(
      'https://ethereal.email/message/Yx1',
    );
    await expect(nodemailer.createTestAccount('http://127.0.0.1:9')).rejects.toMatchObject({
      message: expect.stringContaining('cannot be reached'),
    });
  });

  it('logger: true writes to the console, server text escaped, no password', async () => {
    const s = await server({ users: { u: 'hunter2-password' } });
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((line: unknown) => void lines.push(String(line)));
    cleanups.push(() => spy.mockRestore());
    const t = createTransport({
      host: '127.0.0.1',
      port: s.port,
      tls: tls(),
      auth: { user: 'u', pass: 'hunter2-password' },
      logger: true,
      debug: true,
    });
    await t.sendMail(mail);
    await t.close();
    const all = lines.join('\n');
    expect(all).toMatch(/DEBUG \[smtp-transport\] \[\w+\] C: EHLO/);
    expect(all).not.toContain('hunter2-password');
    expect(all).not.toContain(Buffer.from('\0u\0hunter2-password').toString('base64'));
  });

  it('logger: true escapes what a terminal would act on in server text, bidi controls and C1 included', async () => {
    const s = await startScriptedServer({ greeting: '220 \u202eevil\u009b31m \x1b[2J ready' });
    cleanups.push(() => s.close());
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((line: unknown) => void lines.push(String(line)));
    cleanups.push(() => spy.mockRestore());
    const t = createTransport({ host: '127.0.0.1', port: s.port, ignoreTLS: true, logger: true, debug: true });
    await t.sendMail(mail);
    await t.close();
    const greeting = lines.find((l) => l.includes('S: 220'));
    expect(greeting).toContain('S: 220 \\u202eevil\\u009b31m \\x1b[2J ready');
    expect(lines.join('\n')).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
  });

  it('sendmail: an envelope address starting with "-" never reaches the command line', async () => {
    const t = createTransport({ sendmail: true, path: '/bin/false' });
    await expect(
      t.sendMail({ ...mail, envelope: { from: '-oQ/tmp@example.com', to: ['a@example.com'] } }),
    ).rejects.toMatchObject({ code: 'ESENDMAIL' });
  });

  it('raw: the Message-ID is read from the header block, never from a body line that looks like it', async () => {
    const t = createTransport({ streamTransport: true, buffer: true });
    const raw = 'From: a@example.com\r\nTo: b@example.org\r\nSubject: s\r\n\r\nMessage-ID: <fake@body.example>\r\n';
    const info = await t.sendMail({ raw, envelope: { from: 'a@example.com', to: ['b@example.org'] } });
    expect(info.messageId).not.toBe('<fake@body.example>');
    const withId = await t.sendMail({
      raw: `Message-ID: <real@head.example>\r\n${raw}`,
      envelope: { from: 'a@example.com', to: ['b@example.org'] },
    });
    expect(withId.messageId).toBe('<real@head.example>');
  });

  it('a data: URI with a malformed %-escape is EMESSAGE, not a URIError', async () => {
    const t = createTransport({ streamTransport: true, buffer: true });
    await expect(t.sendMail({ ...mail, attachments: [{ path: 'data:text/plain,%E0%A4%A' }] })).rejects.toMatchObject({
      code: 'EMESSAGE',
      command: 'API',
    });
    const ok = await t.sendMail({ ...mail, attachments: [{ path: 'data:text/plain,a%20b' }] });
    expect(ok.message.toString()).toContain(Buffer.from('a b').toString('base64'));
  });

  it('an href whose server stops answering fails the send (ESTREAM) once the fetch times out', async () => {
    const http = createServer(() => {}); // never answers
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => http.close(() => r())));
    cleanups.push(() => http.closeAllConnections());
    const timeout = AbortSignal.timeout.bind(AbortSignal);
    const spy = vi.spyOn(AbortSignal, 'timeout').mockImplementation(() => timeout(100));
    cleanups.push(() => spy.mockRestore());
    const href = `http://127.0.0.1:${(http.address() as AddressInfo).port}/file.txt`;
    const t = createTransport({ streamTransport: true, buffer: true });
    await expect(t.sendMail({ ...mail, attachments: [{ href }] })).rejects.toMatchObject({ code: 'ESTREAM' });
  });

  it('deliberate: no Bcc field in any output (streamTransport here), though the envelope keeps the address', async () => {
    const info = await createTransport({ streamTransport: true, buffer: true }).sendMail({
      ...mail,
      bcc: 'hidden@example.com',
    });
    expect(info.envelope.to).toEqual(['rcpt@example.com', 'hidden@example.com']);
    expect(info.message.toString()).not.toMatch(/^Bcc:/im);
  });

  it("deliberate: dkim.hashAlgo 'sha1' throws at createTransport (RFC 8301)", () => {
    expect(() =>
      createTransport({
        streamTransport: true,
        dkim: { domainName: 'example.com', keySelector: 's', privateKey: 'x', hashAlgo: 'sha1' },
      }),
    ).toThrow(/sha256/);
  });

  it('a bad DKIM key throws at createTransport with ERR_SMTP_DKIM_KEY, not at each send', () => {
    expect(() =>
      createTransport({
        streamTransport: true,
        dkim: { domainName: 'example.com', keySelector: 's', privateKey: 'not a key' },
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_SMTP_DKIM_KEY' }));
  });
});

describe('the mailer contract', () => {
  it('a plugin error rejects sendMail with that very error; nothing is sent', async () => {
    const s = await server();
    const t = createTransport({ host: '127.0.0.1', port: s.port, tls: tls() });
    cleanups.push(() => t.close());
    const boom = Object.assign(new Error('template not found'), { code: 'ETEMPLATE' });
    t.use('compile', (_mail, done) => done(boom));
    await expect(t.sendMail(mail)).rejects.toBe(boom);
    expect(s.messages).toHaveLength(0);
  });

  it('an aborted signal is EABORT; maxRecipients is EMAXRECIPIENTS; both before connecting', async () => {
    const s = await server();
    const t = createTransport({ host: '127.0.0.1', port: s.port, tls: tls() });
    cleanups.push(() => t.close());
    await expect(t.sendMail({ ...mail, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'EABORT' });
    await expect(
      t.sendMail({ ...mail, to: ['a@example.com', 'b@example.com'], maxRecipients: 1 }),
    ).rejects.toMatchObject({
      code: 'EMAXRECIPIENTS',
    });
    expect(s.connections).toBe(0);
  });

  it('no CR/LF from the caller reaches a header: prepared values, plain values, names, list comments, In-Reply-To, References', async () => {
    const t = createTransport({ streamTransport: true, buffer: true });
    const attempts: object[] = [
      { headers: { 'X-A': { prepared: true, value: 'a\r\nBcc: victim@example.com' } } },
      { headers: { 'X-A': 'a\r\nBcc: victim@example.com' } },
      { headers: { 'X-A\r\nBcc': 'x' } },
      { inReplyTo: '<p@example.com>\r\nBcc: victim@example.com' },
      { references: ['<p@example.com>\0'] },
    ];
    for (const extra of attempts) {
      await expect(t.sendMail({ ...mail, ...extra })).rejects.toMatchObject({ code: 'EMESSAGE', command: 'API' });
    }
    const folded = await t.sendMail({ ...mail, headers: { 'X-Folded': { prepared: true, value: 'one\r\n two' } } });
    expect(folded.message.toString()).toContain('X-Folded: one\r\n two\r\n');
    const list = await t.sendMail({
      ...mail,
      list: { help: { url: 'https://x.example/h\r\nBcc: v@example.com', comment: 'c\r\nBcc: v' } },
    });
    expect(list.message.toString()).not.toMatch(/^Bcc:/im);
  });
});
