import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { progressPrinter } from '../../src/cli/bench/command.js';
import { messageContent, percentile } from '../../src/cli/bench/load.js';
import {
  type CliIo,
  encryptionFlag,
  parseSize,
  parseTarget,
  positiveInt,
  readPassword,
  UsageError,
} from '../../src/cli/common.js';
import { deliveryResultJson, roundNumber, toJsonLine, toJsonText } from '../../src/cli/json.js';
import { formatResult } from '../../src/cli/send.js';
import { buildMessage, DeliveryResult } from '../../src/index.js';

function io(env: Record<string, string> = {}, tty = false): CliIo & { out: () => string } {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (c: Buffer) => (text += c.toString()));
  return {
    stdout: Object.assign(stdout, { isTTY: tty }),
    stderr: new PassThrough(),
    stdin: new PassThrough(),
    env,
    out: () => text,
  };
}

describe('parseTarget', () => {
  it.each([
    ['mail.example.com', 'mail.example.com', undefined],
    ['mail.example.com:587', 'mail.example.com', 587],
    ['127.0.0.1:2525', '127.0.0.1', 2525],
    ['[::1]:25', '::1', 25],
    ['[::1]', '::1', undefined],
    ['::1', '::1', undefined],
  ])('%s → %s %s', (text, host, port) => {
    expect(parseTarget(text)).toEqual({ host, port });
  });

  it.each(['', ':25', 'host:0', 'host:65536', 'host:25x', 'a b:25', '<x>'])('refuses %j', (text) => {
    expect(() => parseTarget(text)).toThrow(UsageError);
  });

  it('round-trips any host name and port', () => {
    fc.assert(
      fc.property(fc.domain(), fc.integer({ min: 1, max: 65535 }), (host, port) => {
        expect(parseTarget(`${host}:${port}`)).toEqual({ host, port });
      }),
    );
  });
});

describe('flags', () => {
  it('--encryption takes the library names; --starttls, --ssl, --plain are aliases; a bare --tls is refused', () => {
    expect(encryptionFlag({ encryption: 'none' })).toBe('none');
    expect(encryptionFlag({ encryption: 'tls' })).toBe('tls');
    expect(encryptionFlag({ encryption: 'ssl' })).toBe('ssl');
    expect(encryptionFlag({ starttls: true })).toBe('tls');
    expect(encryptionFlag({ ssl: true })).toBe('ssl');
    expect(encryptionFlag({ plain: true })).toBe('none');
    expect(encryptionFlag({ encryption: 'tls', starttls: true })).toBe('tls');
    expect(encryptionFlag({})).toBeUndefined();
    expect(() => encryptionFlag({ ssl: true, starttls: true })).toThrow(/choose one encryption/);
    expect(() => encryptionFlag({ encryption: 'ssl', plain: true })).toThrow(UsageError);
    expect(() => encryptionFlag({ encryption: 'starttls' })).toThrow(/none, tls \(STARTTLS\) or ssl/);
    expect(() => encryptionFlag({ tls: true })).toThrow(/--tls is ambiguous: write --encryption ssl/);
  });

  it('one JSON serializer: numbers rounded to µs, errors as { code, message }, non-finite as null', () => {
    expect(roundNumber(12.345678912)).toBe(12.346);
    expect(roundNumber(7)).toBe(7);
    expect(JSON.parse(toJsonText({ a: 0.0004, b: 1.0005, c: Infinity, d: [1.23456] }))).toEqual({
      a: 0,
      b: 1.001,
      c: null,
      d: [1.235],
    });
    const err = Object.assign(new Error('boom'), { code: 'ERR_SMTP_TIMEOUT' });
    expect(JSON.parse(toJsonText({ err }))).toEqual({ err: { code: 'ERR_SMTP_TIMEOUT', message: 'boom' } });
    expect(toJsonLine({ event: 'x', t: 1.23456 })).toBe('{"event":"x","t":1.235}\n');
  });

  it('deliveryResultJson is camelCase with the same values as the result', () => {
    const r = new DeliveryResult({
      status: 'failed',
      messageId: '<m@x>',
      smtpCode: 554,
      smtpError: '554 5.7.1 spam',
      enhancedCode: '5.7.1',
      recipientFailures: { 'john_doe@x.example': '550 no' },
      retryCount: 0,
    });
    const json = deliveryResultJson(r);
    for (const key of Object.keys(json)) expect(key).toMatch(/^[a-z][a-zA-Z]*$/);
    expect(json).toMatchObject({
      status: 'failed',
      messageId: '<m@x>',
      smtpCode: 554,
      smtpError: '554 5.7.1 spam',
      enhancedCode: '5.7.1',
      recipientFailures: { 'john_doe@x.example': '550 no' },
      retryCount: 0,
      isRetryable: false,
    });
  });

  it('the send summary prints a reply once', () => {
    const r = new DeliveryResult({
      status: 'failed',
      messageId: null,
      smtpCode: 530,
      smtpError: '530 5.7.0 Authentication required',
    });
    expect(formatResult(r)).toContain('reply       530 5.7.0 Authentication required\n');
    expect(formatResult(r).match(/530/g)).toHaveLength(1);
  });

  it('parses sizes and counts', () => {
    expect(parseSize('1k')).toBe(1024);
    expect(parseSize('100k')).toBe(102_400);
    expect(parseSize('2m')).toBe(2 * 1024 * 1024);
    expect(parseSize('5000')).toBe(5000);
    for (const bad of ['', 'k', '1g', '-1k', '10']) expect(() => parseSize(bad)).toThrow(UsageError);
    expect(positiveInt('messages', undefined, 7)).toBe(7);
    expect(positiveInt('messages', '12', 7)).toBe(12);
    for (const bad of ['0', '-3', '1.5', 'x']) expect(() => positiveInt('messages', bad, 7)).toThrow(UsageError);
  });
});

describe('readPassword', () => {
  it('reads --pass-env and never asks without --user', async () => {
    expect(await readPassword(io({ PW: 's3cret' }), 'alice', 'PW')).toBe('s3cret');
    expect(await readPassword(io(), undefined, undefined)).toBeUndefined();
  });
  it('refuses a missing variable, --pass-env without --user, and a prompt without a terminal', async () => {
    await expect(readPassword(io(), 'alice', 'NOPE')).rejects.toThrow(/NOPE is not set/);
    await expect(readPassword(io({ PW: 'x' }), undefined, 'PW')).rejects.toThrow(UsageError);
    await expect(readPassword(io(), 'alice', undefined)).rejects.toThrow(/--pass-env/);
  });
});

describe('load helpers', () => {
  it('percentile is nearest-rank and stays within the values', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile([], 50)).toBe(0);
    fc.assert(
      fc.property(
        fc.array(fc.double({ noNaN: true, min: 0, max: 1e6 }), { minLength: 1 }),
        fc.integer({ min: 1, max: 100 }),
        (xs, p) => {
          const sorted = [...xs].sort((a, b) => a - b);
          const v = percentile(sorted, p);
          expect(v).toBeGreaterThanOrEqual(sorted[0]!);
          expect(v).toBeLessThanOrEqual(sorted[sorted.length - 1]!);
        },
      ),
    );
  });

  it.each([1024, 4096, 100 * 1024, 1024 * 1024])('builds a message of about %i octets', async (size) => {
    const built = await buildMessage({
      fromAddress: 'a@b.example',
      toAddresses: ['c@d.example'],
      ...messageContent(size),
    }).toBuffer();
    expect(Math.abs(built.length - size) / size).toBeLessThan(0.1);
    expect(messageContent(size).attachments !== undefined).toBe(size > 16 * 1024);
  });
});

describe('progressPrinter', () => {
  it('rewrites one line in place on a terminal and prints plain lines otherwise', () => {
    const tty = io({}, true);
    const live = progressPrinter(tty, true);
    live({ sent: 10, ok: 10, failed: 0, elapsedMs: 1000, total: 100, durationMs: null });
    live({ sent: 20, ok: 19, failed: 1, elapsedMs: 2000, total: 100, durationMs: null });
    expect(tty.out()).toBe(
      '\r\x1b[2Ksent 10/100, 10 msg/s, 0 errors, ETA 9.0 s\r\x1b[2Ksent 20/100, 10 msg/s, 1 errors, ETA 8.0 s',
    );
    const pipe = io();
    const plain = progressPrinter(pipe, false);
    plain({ sent: 5, ok: 5, failed: 0, elapsedMs: 1000, total: null, durationMs: 3000 });
    plain({ sent: 5, ok: 5, failed: 0, elapsedMs: 1500, total: null, durationMs: 3000 });
    expect(pipe.out()).toBe('sent 5, 5 msg/s, 0 errors, ETA 2.0 s\n');
    expect(pipe.out()).not.toContain('\r');
  });
});
