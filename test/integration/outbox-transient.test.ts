/**
 * The outbox's transient-failure matrix (issue 23): a 451/452/421 to the final dot, a 451 to DATA, a connection
 * lost in the middle of the data and a 4xx at RCPT are retried by the queue, and every message reaches every
 * recipient exactly once. Real redis-server (test/helpers/redis.ts) and the scripted server, worker in-process.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SmtpOutbox, SmtpOutboxWorker } from '../../src/outbox/index.js';
import { type ScriptedSmtpServer, type ScriptRule, startScriptedServer, waitFor } from '../../src/testing/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { type RedisInstance, redisAvailability, startRedis } from '../helpers/redis.js';

const availability = await redisAvailability();

const msg = (n: string, to: string[] = ['rcpt@example.com'], textBody = `body ${n}`) => ({
  fromAddress: 'sender@example.com',
  toAddresses: to,
  subject: `transient ${n}`,
  textBody,
});

/** How many times each recipient got the message with this subject (a 2xx to its end; LMTP: its own 2xx). */
function deliveries(server: ScriptedSmtpServer, subject: string): Record<string, number> {
  const count: Record<string, number> = {};
  for (const m of server.messages) {
    if (!m.data.toString().includes(`Subject: ${subject}`)) continue;
    const got = m.recipientReplies
      ? m.recipientReplies.filter((r) => r.accepted).map((r) => r.recipient)
      : m.accepted
        ? m.rcptTo
        : [];
    for (const r of got) count[r] = (count[r] ?? 0) + 1;
  }
  return count;
}

if (!availability.available) reportUnavailable(availability);
else
  describe('outbox: transient failures are retried, each message delivered exactly once (real redis-server)', () => {
    let redis: RedisInstance;
    let server: ScriptedSmtpServer | undefined;
    let queueCount = 0;
    const closers: (() => Promise<unknown>)[] = [];

    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.stop();
    });
    afterEach(async () => {
      for (const close of closers.splice(0).reverse()) await close();
      await server?.close();
      server = undefined;
    });

    async function setup(script: ScriptRule[], lmtp = false) {
      server = await startScriptedServer({ script, ...(lmtp ? { lmtp: true } : {}) });
      const queueName = `transient${++queueCount}`;
      const outbox = new SmtpOutbox({ connection: redis.url, queueName, defaultJobOptions: { attempts: 4 } });
      closers.push(() => outbox.close());
      const worker = new SmtpOutboxWorker({
        connection: redis.url,
        queueName,
        concurrency: 2,
        handler: {
          hostname: '127.0.0.1',
          port: server.port,
          encryption: 'none',
          retryPolicy: { delays: [20], jitter: 0 },
          ...(lmtp ? { protocol: 'lmtp' as const } : {}),
        },
      });
      closers.push(() => worker.close());
      const failed: { id: string; status: string | null }[] = [];
      outbox.on('failed', (id: string, _reason: string, status: string | null) => failed.push({ id, status }));
      await outbox.waitUntilReady();
      await worker.waitUntilReady();
      return { outbox, failed };
    }

    async function finished(outbox: SmtpOutbox, jobId: string) {
      let result: unknown = 'waiting';
      await waitFor(async () => {
        result = await outbox.getResult(jobId);
        return typeof result === 'object';
      }, 15_000);
      return result as Record<string, unknown>;
    }

    const once: [string, ScriptRule][] = [
      ['451 to the final dot (greylisting)', { on: 'DATA_END', reply: '451 4.7.1 Greylisted, try later', once: true }],
      ['452 to the final dot (queue full)', { on: 'DATA_END', reply: '452 4.3.1 Insufficient storage', once: true }],
      ['421 to the final dot (shutting down)', { on: 'DATA_END', reply: '421 4.3.2 Shutting down', once: true }],
      ['451 to DATA', { on: 'DATA', reply: '451 4.3.0 Local error', once: true }],
    ];
    for (const [name, rule] of once)
      it(`${name}: retried, delivered once`, async () => {
        const { outbox, failed } = await setup([rule]);
        const id = await outbox.send(msg(name, ['a@example.com', 'b@example.com']));
        const result = await finished(outbox, id);
        expect(result).toMatchObject({ status: 'success', retry_count: 1 });
        expect(result.delivered_recipients).toEqual(['a@example.com', 'b@example.com']);
        expect(deliveries(server!, `transient ${name}`)).toEqual({ 'a@example.com': 1, 'b@example.com': 1 });
        expect(failed).toEqual([]);
      });

    it('the connection lost in the middle of the data (before the dot): retried, delivered once', async () => {
      // 354, then the server closes: a 1 MB body cannot have reached its final dot.
      const { outbox } = await setup([{ on: 'DATA', action: 'drop-after-reply', once: true }]);
      const id = await outbox.send(msg('drop', ['a@example.com'], 'x'.repeat(72).concat('\n').repeat(14_000)));
      const result = await finished(outbox, id);
      expect(result).toMatchObject({ status: 'success', retry_count: 1 });
      expect(deliveries(server!, 'transient drop')).toEqual({ 'a@example.com': 1 });
    });

    it('4xx at RCPT for one recipient: the follow-up goes to that recipient alone', async () => {
      const { outbox } = await setup([{ on: 'RCPT', match: /busy@/, reply: '450 4.2.1 Mailbox busy', times: 2 }]);
      const id = await outbox.send(msg('rcpt', ['a@example.com', 'busy@example.com', 'c@example.com']));
      const result = await finished(outbox, id);
      expect(result).toMatchObject({ status: 'success', retry_count: 2, recipient_failures: {} });
      expect([...(result.delivered_recipients as string[])].sort()).toEqual([
        'a@example.com',
        'busy@example.com',
        'c@example.com',
      ]);
      expect(deliveries(server!, 'transient rcpt')).toEqual({
        'a@example.com': 1,
        'busy@example.com': 1,
        'c@example.com': 1,
      });
      // Attempts 2 and 3 named busy@ alone.
      const rcpts = server!.sessions.flatMap((s) => s.commands.filter((c) => c.verb === 'RCPT').map((c) => c.line));
      expect(rcpts.filter((l) => /<a@/.test(l))).toHaveLength(1);
      expect(rcpts.filter((l) => /<busy@/.test(l))).toHaveLength(3);
    });

    it('4xx at RCPT for every recipient: the whole message is retried', async () => {
      const { outbox } = await setup([{ on: 'RCPT', reply: '451 4.3.0 Try later', times: 2 }]);
      const id = await outbox.send(msg('all-rcpt', ['a@example.com', 'b@example.com']));
      expect(await finished(outbox, id)).toMatchObject({ status: 'success', retry_count: 1 });
      expect(deliveries(server!, 'transient all-rcpt')).toEqual({ 'a@example.com': 1, 'b@example.com': 1 });
    });

    it('4xx at RCPT until attempts run out: ends naming both sides, never resent to the delivered one', async () => {
      const { outbox, failed } = await setup([{ on: 'RCPT', match: /busy@/, reply: '450 4.2.1 Mailbox busy' }]);
      const id = await outbox.send(msg('rcpt-out', ['a@example.com', 'busy@example.com']));
      const result = await finished(outbox, id);
      expect(result).toMatchObject({ delivered_recipients: ['a@example.com'], is_retryable: false });
      expect(Object.keys(result.recipient_failures as object)).toEqual(['busy@example.com']);
      expect(deliveries(server!, 'transient rcpt-out')).toEqual({ 'a@example.com': 1 });
      expect(failed.every((f) => f.status !== null)).toBe(true);
    });

    it('a 451 to the dot on every attempt: temp_failed, nothing delivered, the failed event carries the status', async () => {
      const { outbox, failed } = await setup([{ on: 'DATA_END', reply: '451 4.3.0 Try later' }]);
      const id = await outbox.send(msg('always'));
      const result = await finished(outbox, id);
      expect(result).toMatchObject({ status: 'temp_failed', retry_count: 3, delivered_recipients: [] });
      await waitFor(() => failed.length > 0);
      expect(failed).toEqual([{ id, status: 'temp_failed' }]);
      expect(deliveries(server!, 'transient always')).toEqual({});
    });

    it('LMTP: delivered to one, 452 after the data for another: the job ends naming both, with its status', async () => {
      const { outbox, failed } = await setup([{ on: 'LMTP_RCPT', match: /^busy@/, reply: '452 4.2.2 Busy' }], true);
      const id = await outbox.send(msg('lmtp', ['a@example.com', 'busy@example.com']));
      const result = await finished(outbox, id);
      expect(result).toMatchObject({ delivered_recipients: ['a@example.com'], is_retryable: false });
      expect(Object.keys(result.recipient_failures as object)).toEqual(['busy@example.com']);
      await waitFor(() => failed.length > 0);
      expect(failed[0]!.status).not.toBeNull();
      expect(deliveries(server!, 'transient lmtp')).toEqual({ 'a@example.com': 1 });
    });
  });
