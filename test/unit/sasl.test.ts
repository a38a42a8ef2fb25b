import { createHmac, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chooseMechanism, createMechanism, type MechanismContext, saslLogin } from '../../src/protocol/auth.js';
import type { Reply } from '../../src/protocol/reply.js';
import { oauthbearer } from '../../src/protocol/sasl/oauthbearer.js';
import { scram, scramPbkdf2Runs } from '../../src/protocol/sasl/scram.js';
import { certificateSignatureOid, tlsServerEndPoint } from '../../src/protocol/sasl/tls-server-end-point.js';

const ctx = (over: Partial<MechanismContext> & { credentials: MechanismContext['credentials'] }): MechanismContext => ({
  channelBinding: null,
  advertised: [],
  host: 'mx.example',
  port: 587,
  ...over,
});
const text = (b64: string | null | Promise<string | null>): string => Buffer.from(b64 as string, 'base64').toString();
const enc = (s: string): string => Buffer.from(s).toString('base64');

describe('classic mechanisms (moved from protocol/auth.ts)', () => {
  const creds = { username: 'user', password: 'pässword' };
  it('PLAIN sends authzid, user and password in the initial response', () => {
    const m = createMechanism('PLAIN', ctx({ credentials: creds }));
    expect(text(m.initialResponse())).toBe('\0user\0pässword');
  });
  it('LOGIN answers by position', () => {
    const m = createMechanism('LOGIN', ctx({ credentials: creds }));
    expect(m.initialResponse()).toBeNull();
    expect(text(m.respond('VXNlcm5hbWU6') as string)).toBe('user');
    expect(text(m.respond('UGFzc3dvcmQ6') as string)).toBe('pässword');
    expect(m.respond('x')).toBe('*');
  });
  it('CRAM-MD5 answers with the HMAC of the challenge (RFC 2195 example)', () => {
    const challenge = enc('<1896.697170952@postoffice.reston.mci.net>');
    const m = createMechanism('CRAM-MD5', ctx({ credentials: { username: 'tim', password: 'tanstaaftanstaaf' } }));
    expect(text(m.respond(challenge) as string)).toBe('tim b913a602c7eda7a495b4e6e7334d3890');
    expect(createHmac('md5', 'k').digest('hex')).toHaveLength(32);
  });
  it('XOAUTH2 formats the bearer token', () => {
    const m = createMechanism('XOAUTH2', ctx({ credentials: { username: 'u@x' }, accessToken: 'tok' }));
    expect(text(m.initialResponse())).toBe('user=u@x\x01auth=Bearer tok\x01\x01');
  });
  it('XOAUTH2 and OAUTHBEARER refuse \\x01, CR and LF in the user name (a forged auth= field)', () => {
    for (const name of ['XOAUTH2', 'OAUTHBEARER'] as const) {
      for (const [username, code] of [
        ['u\x01auth=Bearer evil', 'ERR_SMTP_INVALID_ARGUMENT'],
        // CR, LF, NUL: the one injection code, whatever the field.
        ['u\r\nQUIT', 'ERR_SMTP_HEADER_INJECTION'],
        ['u\n', 'ERR_SMTP_HEADER_INJECTION'],
      ] as const) {
        expect(() => createMechanism(name, ctx({ credentials: { username }, accessToken: 'tok' }))).toThrow(
          expect.objectContaining({ code, field: 'username' }),
        );
      }
      expect(() => createMechanism(name, ctx({ credentials: { username: 'u' }, accessToken: 't\x01k' }))).toThrow(
        expect.objectContaining({ field: 'accessToken' }),
      );
    }
  });
});

describe('SCRAM (RFC 5802, RFC 7677)', () => {
  it('SCRAM-SHA-256: the RFC 7677 §3 exchange byte for byte', async () => {
    const m = scram(ctx({ credentials: { username: 'user', password: 'pencil' } }), {
      hash: 'sha256',
      plus: false,
      nonce: 'rOprNGfwEbeRWgbNEkqO',
    });
    expect(text(m.initialResponse())).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const final = await m.respond(
      enc('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'),
    );
    expect(text(final)).toBe(
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    );
    expect(() => m.finish!()).toThrow(expect.objectContaining({ code: 'ERR_SMTP_AUTH_SERVER_PROOF' }));
    expect(await m.respond(enc('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='))).toBe('');
    expect(() => m.finish!()).not.toThrow();
  });

  it('SCRAM-SHA-1: the RFC 5802 §5 exchange byte for byte', async () => {
    const m = scram(ctx({ credentials: { username: 'user', password: 'pencil' } }), {
      hash: 'sha1',
      plus: false,
      nonce: 'fyko+d2lbbFgONRv9qkxdawL',
    });
    const final = await m.respond(enc('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096'));
    expect(text(final)).toBe('c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=');
    expect(await m.respond(enc('v=rmF9pqV8S7suAoZWja4dJRkFsKQ='))).toBe('');
  });

  const serverFirst = (nonce: string, i = 4096): string => enc(`r=${nonce}srv,s=QSXCR+Q6sek8bf92,i=${i}`);

  it('a wrong server signature is ERR_SMTP_AUTH_SERVER_PROOF', async () => {
    const m = scram(ctx({ credentials: { username: 'u', password: 'p' } }), {
      hash: 'sha256',
      plus: false,
      nonce: 'abc',
    });
    await m.respond(serverFirst('abc'));
    await expect(m.respond(enc('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='))).rejects.toMatchObject({
      code: 'ERR_SMTP_AUTH_SERVER_PROOF',
    });
  });

  it('refuses too few iterations (configurable), a foreign nonce and a malformed salt', async () => {
    const mk = (min?: number) =>
      scram(ctx({ credentials: { username: 'u', password: 'p' }, scramMinIterations: min }), {
        hash: 'sha256',
        plus: false,
        nonce: 'abc',
      });
    await expect(mk().respond(serverFirst('abc', 4095))).rejects.toMatchObject({ code: 'ERR_SMTP_AUTH_CHALLENGE' });
    await expect(mk(1000).respond(serverFirst('abc', 1000))).resolves.toMatch(/^[A-Za-z0-9+/]+=*$/);
    await expect(mk().respond(serverFirst('xyz'))).rejects.toMatchObject({ code: 'ERR_SMTP_AUTH_CHALLENGE' });
    await expect(mk().respond(enc('r=abcd,s=,i=4096'))).rejects.toMatchObject({ code: 'ERR_SMTP_AUTH_CHALLENGE' });
    await expect(mk().respond('not base64!')).rejects.toMatchObject({ code: 'ERR_SMTP_AUTH_CHALLENGE' });
  });

  it('caches the salted password per (password, salt, iterations, hash)', async () => {
    const run = async (password: string, salt = 'QSXCR+Q6sek8bf92') => {
      const m = scram(ctx({ credentials: { username: 'u', password } }), { hash: 'sha256', plus: false, nonce: 'n' });
      await m.respond(enc(`r=nX,s=${salt},i=4097`));
    };
    const before = scramPbkdf2Runs();
    await run('cache-test');
    await run('cache-test');
    await run('cache-test');
    expect(scramPbkdf2Runs() - before).toBe(1);
    await run('cache-test-2');
    await run('cache-test', 'AAAAAAAAAAAAAAAA');
    expect(scramPbkdf2Runs() - before).toBe(3);
  });

  it('GS2 header: p= under -PLUS, y with TLS when -PLUS is not advertised, n otherwise', async () => {
    const binding = { type: 'tls-exporter' as const, data: Buffer.alloc(32, 7) };
    const creds = { username: 'u', password: 'p' };
    const plus = scram(ctx({ credentials: creds, channelBinding: binding }), {
      hash: 'sha256',
      plus: true,
      nonce: 'a',
    });
    expect(text(plus.initialResponse())).toBe('p=tls-exporter,,n=u,r=a');
    const final = text(await plus.respond(enc('r=aZ,s=QSXCR+Q6sek8bf92,i=4096')));
    const c = /^c=([^,]+),/.exec(final)![1]!;
    expect(Buffer.from(c, 'base64')).toEqual(Buffer.concat([Buffer.from('p=tls-exporter,,'), binding.data]));
    const y = scram(ctx({ credentials: creds, channelBinding: binding }), { hash: 'sha256', plus: false, nonce: 'a' });
    expect(text(y.initialResponse())).toBe('y,,n=u,r=a');
    const yFinal = text(await y.respond(enc('r=aZ,s=QSXCR+Q6sek8bf92,i=4096')));
    expect(yFinal.startsWith(`c=${enc('y,,')},`)).toBe(true);
    const n = scram(ctx({ credentials: creds }), { hash: 'sha256', plus: false, nonce: 'a' });
    expect(text(n.initialResponse())).toBe('n,,n=u,r=a');
    // -PLUS offered but not chosen (authMethod): n, not y.
    const chosen = scram(ctx({ credentials: creds, channelBinding: binding, advertised: ['SCRAM-SHA-256-PLUS'] }), {
      hash: 'sha256',
      plus: false,
      nonce: 'a',
    });
    expect(text(chosen.initialResponse())).toBe('n,,n=u,r=a');
    expect(() => scram(ctx({ credentials: creds }), { hash: 'sha256', plus: true })).toThrow(/channel binding/);
  });

  it('escapes = and , in the user name and SASLpreps the password', () => {
    const m = scram(ctx({ credentials: { username: 'a=b,c', password: 'I\u00adX' } }), {
      hash: 'sha256',
      plus: false,
      nonce: 'q',
    });
    expect(text(m.initialResponse())).toBe('n,,n=a=3Db=2Cc,r=q');
    expect(() =>
      scram(ctx({ credentials: { username: 'u', password: 'a\u0007' } }), { hash: 'sha1', plus: false }),
    ).toThrow(expect.objectContaining({ code: 'ERR_SMTP_SASLPREP' }));
  });
});

describe('OAUTHBEARER (RFC 7628)', () => {
  it('formats gs2 header, host, port and the bearer token', () => {
    const m = oauthbearer(
      ctx({ credentials: { username: 'u@x' }, accessToken: 'tok', host: 'smtp.example', port: 587 }),
    );
    expect(text(m.initialResponse())).toBe('n,a=u@x,\x01host=smtp.example\x01port=587\x01auth=Bearer tok\x01\x01');
  });
  it('answers the JSON error with a single \\x01 and asks for a retry', () => {
    const m = oauthbearer(ctx({ credentials: { username: 'u' }, accessToken: 'tok' }));
    expect(m.wantsRetry!()).toBe(false);
    expect(text(m.respond(enc('{"status":"invalid_token"}')) as string)).toBe('\x01');
    expect(m.error).toEqual({ status: 'invalid_token' });
    expect(m.wantsRetry!()).toBe(true);
  });
});

describe('chooseMechanism', () => {
  const creds = { username: 'user', password: 'pw' };
  const binding = { type: 'tls-exporter' as const, data: Buffer.alloc(32) };
  it('prefers SCRAM over PLAIN/LOGIN/CRAM-MD5, and -PLUS when TLS gives a binding', () => {
    const all = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS'];
    expect(chooseMechanism(all, creds, { secure: true, channelBinding: binding })).toBe('SCRAM-SHA-256-PLUS');
    expect(chooseMechanism(all, creds, { secure: true, channelBinding: null })).toBe('SCRAM-SHA-256');
    expect(chooseMechanism(['PLAIN', 'SCRAM-SHA-1'], creds, { secure: true })).toBe('SCRAM-SHA-1');
    expect(chooseMechanism(['LOGIN', 'PLAIN', 'CRAM-MD5'], creds, { secure: true })).toBe('PLAIN');
    expect(chooseMechanism(['LOGIN', 'PLAIN', 'CRAM-MD5'], creds, { secure: false })).toBe('CRAM-MD5');
  });
  it('tokens: OAUTHBEARER before XOAUTH2; a configured method must be offered (and -PLUS bindable)', () => {
    const tok = { username: 'u', accessToken: 't' };
    expect(chooseMechanism(['PLAIN', 'XOAUTH2', 'OAUTHBEARER'], tok, { secure: true })).toBe('OAUTHBEARER');
    expect(chooseMechanism(['PLAIN', 'XOAUTH2'], tok, { secure: true })).toBe('XOAUTH2');
    expect(chooseMechanism(['LOGIN', 'PLAIN'], creds, { secure: true, preferred: 'LOGIN' })).toBe('LOGIN');
    for (const [offer, preferred] of [
      [['PLAIN'], 'CRAM-MD5'],
      [['SCRAM-SHA-256-PLUS'], 'SCRAM-SHA-256-PLUS'],
    ] as const) {
      expect(() => chooseMechanism(offer, creds, { secure: true, preferred })).toThrow(
        expect.objectContaining({ code: 'ERR_SMTP_AUTH_UNAVAILABLE' }),
      );
    }
    expect(() => chooseMechanism(['GSSAPI'], creds, { secure: true })).toThrow(
      expect.objectContaining({ code: 'ERR_SMTP_AUTH_UNAVAILABLE' }),
    );
  });
});

describe('saslLogin (the exchange)', () => {
  const reply = (code: number, line = ''): Reply => ({ code, enhanced: null, lines: [line] });
  const script = (replies: Reply[]) => {
    const sent: { line: string; shown: string | undefined }[] = [];
    return {
      sent,
      io: {
        async send(line: string, shown?: string) {
          sent.push({ line, shown });
          return replies.shift() ?? reply(535);
        },
      },
    };
  };
  const base = { advertised: [], channelBinding: null, host: 'h', port: 25 };

  it('cancels with * after 10 challenges', async () => {
    const { io, sent } = script(Array.from({ length: 12 }, () => reply(334, 'eA==')).concat([reply(501)]));
    await expect(
      saslLogin(io, { ...base, method: 'LOGIN', credentials: { username: 'u', password: 'p' } }),
    ).rejects.toThrow(/after 10 challenges/);
    expect(sent.at(-1)).toEqual({ line: '*\r\n', shown: '*' });
    // Every continuation is redacted in the transcript.
    expect(sent.slice(1, -1).every((s) => s.shown === '****')).toBe(true);
  });

  it('cancels with * on a challenge the mechanism cannot answer', async () => {
    const { io, sent } = script([reply(334, enc('garbage')), reply(501)]);
    await expect(
      saslLogin(io, { ...base, method: 'SCRAM-SHA-256', credentials: { username: 'u', password: 'p' } }),
    ).rejects.toMatchObject({ code: 'ERR_SMTP_AUTH_CHALLENGE' });
    expect(sent.map((s) => s.line)).toEqual([expect.stringMatching(/^AUTH SCRAM-SHA-256 \S+\r\n$/), '*\r\n']);
  });

  it('OAUTHBEARER: after the JSON error, \\x01, then once more with a fresh token from the provider', async () => {
    const tokens = ['expired', 'fresh'];
    let calls = 0;
    const { io, sent } = script([reply(334, enc('{"status":"invalid_token"}')), reply(535), reply(235)]);
    await saslLogin(io, {
      ...base,
      method: 'OAUTHBEARER',
      credentials: { username: 'u', accessToken: () => tokens[calls++]! },
    });
    expect(calls).toBe(2);
    expect(sent.map((s) => s.line.trim())).toEqual([
      expect.stringMatching(/^AUTH OAUTHBEARER /),
      'AQ==',
      expect.stringMatching(/^AUTH OAUTHBEARER /),
    ]);
    expect(text(sent[2]!.line.split(' ')[2]!.trim())).toContain('auth=Bearer fresh');
  });

  it('OAUTHBEARER with a fixed token does not retry', async () => {
    const { io, sent } = script([reply(334, enc('{"status":"invalid_token"}')), reply(535)]);
    await expect(
      saslLogin(io, { ...base, method: 'OAUTHBEARER', credentials: { username: 'u', accessToken: 'tok' } }),
    ).rejects.toMatchObject({ replyCode: 535 });
    expect(sent).toHaveLength(2);
  });

  it('SCRAM: 235 without the server proof is refused', async () => {
    const { io } = script([reply(235)]);
    await expect(
      saslLogin(io, { ...base, method: 'SCRAM-SHA-256', credentials: { username: 'u', password: 'p' } }),
    ).rejects.toMatchObject({ code: 'ERR_SMTP_AUTH_SERVER_PROOF' });
  });
});

describe('tls-server-end-point (RFC 5929 §4.1)', () => {
  const der = (name: string) => new X509Certificate(readFileSync(`fixtures/certs/${name}`)).raw;
  it('reads the signature algorithm and hashes the certificate with it', async () => {
    const raw = der('server.pem');
    expect(certificateSignatureOid(raw)).toBe('1.2.840.10045.4.3.2'); // ecdsa-with-SHA256
    const { createHash } = await import('node:crypto');
    expect(tlsServerEndPoint(raw)).toEqual(createHash('sha256').update(raw).digest());
  });
  it('gives null for unreadable input instead of a wrong binding', () => {
    expect(tlsServerEndPoint(Buffer.from([0x30, 0x82, 0xff]))).toBeNull();
    expect(certificateSignatureOid(Buffer.alloc(0))).toBeNull();
  });
});
