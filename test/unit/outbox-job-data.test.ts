/** Outbox job data (src/outbox/job-data.ts): what may be queued, the job id, and reading untrusted job data. */
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { assertJsonSafe, jobIdFor, messageJobData, rawJobData, readJobData } from '../../src/outbox/job-data.js';

const msg = { fromAddress: '"Doe, Jane" <jane@example.org>', toAddresses: ['a@example.com'], subject: 's' };

describe('outbox job data', () => {
  it('accepts any JSON value', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => assertJsonSafe(value, 'v')));
  });

  it('names the path of what JSON cannot carry', () => {
    const bad: [unknown, RegExp][] = [
      [{ a: [1, { b: Buffer.from('x') }] }, /^v\.a\[1\]\.b is binary data/],
      [{ s: Readable.from([]) }, /^v\.s is a stream/],
      [{ f: () => 1 }, /^v\.f is a function/],
      [{ d: new Date() }, /^v\.d is a Date/],
      [{ n: Number.NaN }, /^v\.n is NaN/],
      [[undefined], /undefined/],
      [{ m: new Map() }, /^v\.m is a Map/],
    ];
    for (const [value, message] of bad) {
      expect(() => assertJsonSafe(value, 'v')).toThrow(InvalidArgumentError);
      expect(() => assertJsonSafe(value, 'v')).toThrow(message);
    }
  });

  it('fixes a Message-ID on the sender domain at queue time, and keeps a given one', () => {
    const a = messageJobData(msg);
    expect(a.message.messageId).toMatch(/^<[0-9a-f]{32}@example\.org>$/);
    expect(messageJobData({ ...msg, messageId: '<x@y.example>' }).message.messageId).toBe('<x@y.example>');
    expect(messageJobData({ ...msg, textBody: undefined }).message).not.toHaveProperty('textBody');
    for (const key of ['signal', 'onBeforeHandOver', 'retry', 'dkim'])
      expect(() => messageJobData({ ...msg, [key]: key === 'retry' ? true : {} })).toThrow(/cannot be queued/);
  });

  it('takes the Message-ID domain from the sender as the address module parses it', () => {
    const domainOf = (fromAddress: unknown): string =>
      /@([^>]+)>$/.exec(messageJobData({ ...msg, fromAddress }).message.messageId)![1]!;
    expect(domainOf({ name: 'Jane', address: 'jane@example.net' })).toBe('example.net');
    expect(domainOf('jane@bücher.example')).toBe('xn--bcher-kva.example');
    expect(domainOf('Jane <jane@[192.0.2.1]>')).toBe('[192.0.2.1]');
    // No usable sender: a placeholder domain; the worker's send refuses the message itself.
    expect(domainOf('not an address')).toBe('localhost');
    expect(domainOf(undefined)).toBe('localhost');
  });

  it('job ids: the caller’s (checked), else one per Message-ID, stable', () => {
    expect(jobIdFor('order-1', '<a@b>')).toBe('order-1');
    expect(jobIdFor(undefined, '<a@b>')).toBe(jobIdFor(undefined, '<a@b>'));
    expect(jobIdFor(undefined, '<a@b>')).not.toBe(jobIdFor(undefined, '<a@c>'));
    expect(jobIdFor(undefined, null)).toBeUndefined();
    for (const bad of ['', '12', 'a:b', 7]) expect(() => jobIdFor(bad, null)).toThrow(/jobId/);
  });

  it('raw messages: text or base64 for non-UTF-8 bytes, Message-ID read from the header', () => {
    const text = 'Message-ID: <r@example.com>\r\nSubject: x\r\n\r\nbody\r\n';
    expect(rawJobData({ from: 'a@b.example', to: ['c@d.example'] }, text, undefined)).toMatchObject({
      raw: { text },
      messageId: '<r@example.com>',
    });
    const bytes = Buffer.from([0x53, 0x3a, 0x20, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]);
    const data = rawJobData({ from: '', to: ['c@d.example'] }, bytes, undefined);
    expect(data.raw).toEqual({ base64: bytes.toString('base64') });
    const back = readJobData(JSON.parse(JSON.stringify(data)));
    expect(back.kind === 'raw' && Buffer.isBuffer(back.raw) && back.raw.equals(bytes)).toBe(true);
    expect(() => rawJobData({ from: 'a@b.example', to: 'c' }, text, undefined)).toThrow(/envelope/);
  });

  it('reads any job data without throwing: a queued job, or why it is INVALID', () => {
    fc.assert(
      fc.property(fc.anything(), (data) => {
        const r = readJobData(data);
        expect(['message', 'raw', 'invalid']).toContain(r.kind);
      }),
    );
    expect(readJobData(messageJobData(msg)).kind).toBe('message');
    expect(readJobData({ v: 2, kind: 'message' })).toMatchObject({ kind: 'invalid', reason: /version/ });
    expect(readJobData({ v: 1, kind: 'message', message: { ...msg, messageId: '<a@b>', dkim: {} } })).toMatchObject({
      kind: 'invalid',
    });
  });
});
