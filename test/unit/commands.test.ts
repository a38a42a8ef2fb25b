import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { chooseMechanism, createMechanism } from '../../src/protocol/auth.js';
import * as cmd from '../../src/protocol/commands.js';
import { parseEhlo } from '../../src/protocol/extensions.js';

describe('command builders', () => {
  it('build exact wire lines', () => {
    expect(cmd.ehlo('client.example')).toBe('EHLO client.example\r\n');
    expect(cmd.mail('a@b.example', { SIZE: 1200, BODY: '8BITMIME', SMTPUTF8: true, RET: undefined })).toBe(
      'MAIL FROM:<a@b.example> SIZE=1200 BODY=8BITMIME SMTPUTF8\r\n',
    );
    expect(cmd.mail('')).toBe('MAIL FROM:<>\r\n');
    expect(cmd.rcpt('"john doe"@b.example')).toBe('RCPT TO:<"john doe"@b.example>\r\n');
    expect(cmd.bdat(10, true)).toBe('BDAT 10 LAST\r\n');
    expect(cmd.auth('plain', 'AGEAYg==')).toBe('AUTH PLAIN AGEAYg==\r\n');
    expect(cmd.auth('LOGIN')).toBe('AUTH LOGIN\r\n');
  });

  it('refuse CR, LF or NUL anywhere in a caller value', () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom('\r', '\n', '\0'), fc.string(), (a, bad, b) => {
        const value = `${a}${bad}${b}`;
        expect(() => cmd.mail(value)).toThrow(InvalidArgumentError);
        expect(() => cmd.rcpt(value)).toThrow(InvalidArgumentError);
        expect(() => cmd.ehlo(value)).toThrow(InvalidArgumentError);
        expect(() => cmd.mail('a@b.example', { ENVID: value })).toThrow(InvalidArgumentError);
      }),
    );
  });

  it('refuse angle brackets and unquoted spaces in paths', () => {
    expect(() => cmd.rcpt('a@b> NOTIFY=NEVER')).toThrow(InvalidArgumentError);
    expect(() => cmd.rcpt('a b@c.example')).toThrow(InvalidArgumentError);
  });

  it('xtext-encodes + and = and non-printables (RFC 3461)', () => {
    expect(cmd.xtext('a+b=c d')).toBe('a+2Bb+3Dc+20d');
  });

  it('redacts AUTH payloads for transcripts', () => {
    expect(cmd.redactCommand('AUTH PLAIN AGEAYg==\r\n')).toBe('AUTH PLAIN ****');
    expect(cmd.redactCommand('AUTH LOGIN\r\n')).toBe('AUTH LOGIN');
    expect(cmd.redactCommand('MAIL FROM:<a@b>\r\n')).toBe('MAIL FROM:<a@b>');
  });
});

describe('parseEhlo', () => {
  it('reads every capability and keeps unknown keywords', () => {
    const info = parseEhlo({
      code: 250,
      enhanced: null,
      lines: [
        'mx.example greets you',
        'PIPELINING',
        'SIZE 35882577',
        '8BITMIME',
        'SMTPUTF8',
        'CHUNKING',
        'BINARYMIME',
        'DSN',
        'ENHANCEDSTATUSCODES',
        'STARTTLS',
        'REQUIRETLS',
        'AUTH PLAIN login',
        'AUTH=CRAM-MD5',
        'X-FANCY a b',
      ],
    });
    expect(info.serverName).toBe('mx.example');
    expect(info.size).toBe(35882577);
    expect([
      info.pipelining,
      info.eightBitMime,
      info.smtpUtf8,
      info.chunking,
      info.binaryMime,
      info.dsn,
      info.enhancedStatusCodes,
      info.startTls,
      info.requireTls,
    ]).toEqual(Array(9).fill(true));
    expect(info.authMechanisms).toEqual(['PLAIN', 'LOGIN', 'CRAM-MD5']);
    expect(info.keywords.get('X-FANCY')).toEqual(['a', 'b']);
  });

  it('SIZE without a number means no fixed limit; no SIZE means unknown', () => {
    expect(parseEhlo({ code: 250, enhanced: null, lines: ['mx', 'SIZE'] }).size).toBe(0);
    expect(parseEhlo({ code: 250, enhanced: null, lines: ['mx'] }).size).toBeNull();
  });
});

describe('SASL mechanisms', () => {
  const creds = { username: 'user', password: 'pässword' };
  it('PLAIN sends authzid, user and password in the initial response', () => {
    const m = createMechanism('PLAIN', creds);
    expect(Buffer.from(m.initialResponse()!, 'base64').toString()).toBe('\0user\0pässword');
  });
  it('LOGIN answers by position', () => {
    const m = createMechanism('LOGIN', creds);
    expect(m.initialResponse()).toBeNull();
    expect(Buffer.from(m.respond('VXNlcm5hbWU6'), 'base64').toString()).toBe('user');
    expect(Buffer.from(m.respond('UGFzc3dvcmQ6'), 'base64').toString()).toBe('pässword');
    expect(m.respond('x')).toBe('*');
  });
  it('CRAM-MD5 answers with the HMAC of the challenge (RFC 2195 example)', () => {
    const challenge = Buffer.from('<1896.697170952@postoffice.reston.mci.net>').toString('base64');
    const m = createMechanism('CRAM-MD5', { username: 'tim', password: 'tanstaaftanstaaf' });
    expect(Buffer.from(m.respond(challenge), 'base64').toString()).toBe('tim b913a602c7eda7a495b4e6e7334d3890');
    expect(createHmac('md5', 'k').digest('hex')).toHaveLength(32);
  });
  it('XOAUTH2 refuses a user name that would add a field of its own (\\x01)', () => {
    expect(() => createMechanism('XOAUTH2', { username: 'u@x\x01auth=Bearer evil' }, 'tok')).toThrow(
      expect.objectContaining({ code: 'ERR_SMTP_INVALID_ARGUMENT', field: 'username' }),
    );
  });

  it('XOAUTH2 formats the bearer token', () => {
    const m = createMechanism('XOAUTH2', { username: 'u@x' }, 'tok');
    expect(Buffer.from(m.initialResponse()!, 'base64').toString()).toBe('user=u@x\x01auth=Bearer tok\x01\x01');
  });
  it('chooses by channel security and honours a configured method', () => {
    expect(chooseMechanism(['LOGIN', 'PLAIN', 'CRAM-MD5'], creds, { secure: true })).toBe('PLAIN');
    expect(chooseMechanism(['LOGIN', 'PLAIN', 'CRAM-MD5'], creds, { secure: false })).toBe('CRAM-MD5');
    expect(chooseMechanism(['PLAIN', 'XOAUTH2'], { username: 'u', accessToken: 't' }, { secure: true })).toBe(
      'XOAUTH2',
    );
    expect(chooseMechanism(['LOGIN', 'PLAIN'], creds, { secure: true, preferred: 'LOGIN' })).toBe('LOGIN');
    expect(() => chooseMechanism(['PLAIN'], creds, { secure: true, preferred: 'CRAM-MD5' })).toThrow(
      expect.objectContaining({ code: 'ERR_SMTP_AUTH_UNAVAILABLE' }),
    );
    expect(() => chooseMechanism(['GSSAPI'], creds, { secure: true })).toThrow(
      expect.objectContaining({ code: 'ERR_SMTP_AUTH_UNAVAILABLE' }),
    );
  });
});
