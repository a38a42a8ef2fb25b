/**
 * BullMQ's own operator tooling on the outbox queue: Bull Board (@bull-board/api + @bull-board/express) mounted
 * over the outbox's queue, its pages rendered by headless Chromium (Debian chromium): the delivered job is under
 * "completed", and the UNKNOWN job (dropped after the dot) is under "failed" with its `unknown: …` reason — the
 * job `outbox.listUnknown()` lists.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpOutbox, SmtpOutboxWorker } from '../../src/outbox/index.js';
import { startScriptedServer, waitFor } from '../../src/testing/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { chromiumAvailability, headlessChromium } from '../helpers/chromium.js';
import { type RedisInstance, redisAvailability, startRedis } from '../helpers/redis.js';

const redisUp = await redisAvailability();
const chromiumUp = chromiumAvailability();

/** The DOM headless Chromium built for `url`, after the page's scripts ran. */
function renderedDom(url: string, profile: string): Promise<string> {
  return headlessChromium(['--virtual-time-budget=8000', '--dump-dom', url], profile);
}

if (!redisUp.available) reportUnavailable(redisUp);
else if (!chromiumUp.available) reportUnavailable(chromiumUp);
else
  describe('Bull Board over the outbox queue (headless Chromium)', () => {
    let redis: RedisInstance;
    const profile = mkdtempSync(join(tmpdir(), 'smtpwire-board-'));
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.stop();
      rmSync(profile, { recursive: true, force: true });
    });

    it('shows the delivered job as completed and the UNKNOWN job as failed with its reason', async () => {
      const server = await startScriptedServer({
        onCommand: (session, _line, event) => {
          if (event !== 'DATA_END') return undefined;
          return /^Subject: lost reply/m.test(session.messages.at(-1)?.data.toString('latin1') ?? '')
            ? { action: 'drop' }
            : undefined;
        },
      });
      const outbox = new SmtpOutbox({ connection: redis.url, queueName: 'board' });
      const worker = new SmtpOutboxWorker({
        connection: redis.url,
        queueName: 'board',
        handler: { hostname: '127.0.0.1', port: server.port, encryption: 'none' },
      });
      const client = new Redis(redis.port, { maxRetriesPerRequest: null });
      const queue = new Queue('board', { connection: client });
      const board = new ExpressAdapter();
      board.setBasePath('/ui');
      createBullBoard({ queues: [new BullMQAdapter(queue, { readOnlyMode: true })], serverAdapter: board });
      const app = express();
      app.use('/ui', board.getRouter());
      const http = app.listen(0, '127.0.0.1');
      await new Promise((r) => http.once('listening', r));
      const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/ui`;
      try {
        const message = (subject: string) => ({
          fromAddress: 'a@example.com',
          toAddresses: ['b@example.com'],
          subject,
        });
        const ok = await outbox.send(message('fine'), { jobId: 'board-delivered' });
        const lost = await outbox.send(message('lost reply'), { jobId: 'board-unknown' });
        await waitFor(async () => (await queue.getJobCountByTypes('completed', 'failed')) === 2, 15_000);
        expect((await outbox.listUnknown()).map((u) => u.jobId)).toEqual([lost]);

        // Bull Board's own API first (what its page fetches), then the page as Chromium renders it.
        const api = (await (await fetch(`${base}/api/queues?activeQueue=board&status=failed&page=1`)).json()) as {
          queues: { name: string; jobs: { id: string; failedReason: string }[] }[];
        };
        const failed = api.queues.find((q) => q.name === 'board')!.jobs;
        expect(failed.map((j) => j.id)).toEqual([lost]);
        expect(failed[0]!.failedReason).toMatch(/^unknown: /);

        const failedPage = await renderedDom(`${base}/queue/board?status=failed`, profile);
        expect(failedPage).toContain(lost);
        expect(failedPage).toMatch(/unknown: /);
        expect(failedPage).not.toContain(ok);
        const completedPage = await renderedDom(`${base}/queue/board?status=completed`, profile);
        expect(completedPage).toContain(ok);
        expect(completedPage).not.toContain(lost);
      } finally {
        await new Promise((r) => http.close(r));
        await queue.close();
        await client.quit();
        await worker.close();
        await outbox.close();
        await server.close();
      }
    }, 120_000);
  });
