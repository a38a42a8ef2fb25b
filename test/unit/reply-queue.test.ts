/**
 * The reply queue's one lazy deadline per connection, on a fake clock: each head entry times out
 * exactly its own timeout after it became the head, whether that is shorter or longer than the timer
 * already running, and an idle queue's timer holds nothing open.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_TIMEOUTS } from '../../src/options.js';
import { ReplyParser } from '../../src/protocol/reply.js';
import { type Pending, type QueueHost, ReplyQueue } from '../../src/transport/reply-queue.js';

function queue() {
  const timedOut: { line: string | null; at: number }[] = [];
  const host: QueueHost = {
    timeouts: { ...DEFAULT_TIMEOUTS, command: 10_000, dataIdle: 5_000, finalReply: 20_000 },
    broken: () => null,
    write: () => true,
    transcribing: () => false,
    transcript: () => {},
    timedOut: (head: Pending) => void timedOut.push({ line: head.line, at: Date.now() }),
    fail: (err) => {
      throw err;
    },
    newParser: () => new ReplyParser(),
  };
  const q = new ReplyQueue(host);
  const reply = (text: string): void => q.receive(Buffer.from(`${text}\r\n`));
  return { q, reply, timedOut };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('one lazy deadline per connection', () => {
  it('a command with a shorter timeout of its own times out on time behind a longer running timer', async () => {
    const { q, reply, timedOut } = queue();
    void q.send('NOOP\r\n').catch(() => {}); // command: 10 s, arms the timer
    vi.advanceTimersByTime(1_000);
    reply('250 ok'); // idle; the timer stays armed for t0 + 10 s
    void q.send('XSHORT\r\n', { timeout: 500 }).catch(() => {});
    vi.advanceTimersByTime(499);
    expect(timedOut).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(timedOut).toEqual([{ line: 'XSHORT\r\n', at: 1_001_500 }]);
  });

  it('a later head gets its full timeout: the early timer sleeps the rest instead of firing', async () => {
    const { q, reply, timedOut } = queue();
    void q.send('MAIL FROM:<a@b.example>\r\n').catch(() => {});
    void q.send('RCPT TO:<c@d.example>\r\n').catch(() => {});
    vi.advanceTimersByTime(9_000);
    reply('250 ok'); // RCPT is the head now: 10 s from here
    vi.advanceTimersByTime(1_000); // the timer armed for MAIL fires here and finds RCPT's later deadline
    expect(timedOut).toEqual([]);
    vi.advanceTimersByTime(8_999);
    expect(timedOut).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(timedOut).toEqual([{ line: 'RCPT TO:<c@d.example>\r\n', at: 1_019_000 }]);
  });

  it('replies in time never time out, and an idle queue keeps no timer that holds the process', async () => {
    const { q, reply, timedOut } = queue();
    for (let i = 0; i < 50; i++) {
      void q.send('NOOP\r\n').catch(() => {});
      vi.advanceTimersByTime(9_000);
      reply('250 ok');
    }
    expect(timedOut).toEqual([]);
    // At most one timer, unreferenced while idle.
    expect(vi.getTimerCount()).toBeLessThanOrEqual(1);
    vi.advanceTimersByTime(60_000);
    expect(timedOut).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('sendLater: a pipelined reply read later', () => {
  it('a reply already in is taken synchronously, in FIFO order with send()', async () => {
    const { q } = queue();
    const mail = q.send('MAIL FROM:<a@b.example>\r\n');
    const rcpt = q.sendLater('RCPT TO:<c@d.example>\r\n');
    const data = q.sendLater('DATA\r\n');
    q.receive(Buffer.from('250 mail\r\n550 5.1.1 no\r\n354 go\r\n'));
    expect((await mail).code).toBe(250);
    const r = rcpt.take();
    expect(r).not.toBeInstanceOf(Promise);
    expect((r as { code: number }).code).toBe(550);
    expect((data.take() as { code: number }).code).toBe(354);
    expect(q.length).toBe(0);
  });

  it('taken before its reply: a promise that the reply settles', async () => {
    const { q, reply } = queue();
    const rcpt = q.sendLater('RCPT TO:<c@d.example>\r\n');
    const p = rcpt.take();
    expect(p).toBeInstanceOf(Promise);
    reply('250 ok');
    expect((await p).code).toBe(250);
  });

  it('failed before it is taken (the connection poisoned): take() throws that error, nothing unhandled', () => {
    const { q } = queue();
    const rcpt = q.sendLater('RCPT TO:<c@d.example>\r\n');
    const err = new Error('poisoned');
    for (const entry of q.takeAll()) entry.reject(err as never);
    expect(() => rcpt.take()).toThrow(err);
  });
});
