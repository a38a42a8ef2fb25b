/**
 * Outbox attachments by handle (issue 23): a symlink inside attachmentRoot swapped, as fast as a process can,
 * between a file inside the root and a secret outside it, while jobs naming it are sent. Whatever the timing, the
 * secret never reaches the server: each job either sends the inside file or is INVALID. Real redis-server and the
 * scripted server; the swapper is a child process (bounded to the test's duration).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpOutbox, SmtpOutboxWorker } from '../../src/outbox/index.js';
import { type ScriptedSmtpServer, startScriptedServer, waitFor } from '../../src/testing/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { type RedisInstance, redisAvailability, startRedis } from '../helpers/redis.js';

const availability = await redisAvailability();
const JOBS = 40;
const SECRET = 'SECRET-OUTSIDE-THE-ROOT';

/** Swaps `link` between two targets with atomic renames until killed (or 20 s pass). */
const SWAPPER = `
const fs = require('node:fs');
const [link, a, b] = process.argv.slice(1);
const tmp = link + '.tmp';
const end = Date.now() + 20000;
for (let i = 0; Date.now() < end; i++) {
  try { fs.unlinkSync(tmp); } catch {}
  fs.symlinkSync(i % 2 ? a : b, tmp);
  fs.renameSync(tmp, link);
}`;

if (!availability.available) reportUnavailable(availability);
else
  describe('outbox attachment files are read from the handle that was checked', () => {
    let redis: RedisInstance;
    let server: ScriptedSmtpServer;
    let dir: string;
    let swapper: ChildProcess | undefined;
    beforeAll(async () => {
      redis = await startRedis();
      server = await startScriptedServer();
      dir = mkdtempSync(join(tmpdir(), 'smtpwire-race-'));
    });
    afterAll(async () => {
      swapper?.kill('SIGKILL');
      await server?.close();
      await redis?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('a racing symlink swapper never gets a file outside attachmentRoot mailed', async () => {
      const root = join(dir, 'root');
      const outside = join(dir, 'outside');
      mkdirSync(root);
      mkdirSync(outside);
      writeFileSync(join(root, 'ok.txt'), 'inside the root');
      writeFileSync(join(outside, 'secret.txt'), SECRET);
      const link = join(root, 'report.txt');
      swapper = spawn(process.execPath, ['-e', SWAPPER, link, join(root, 'ok.txt'), join(outside, 'secret.txt')], {
        stdio: 'ignore',
      });
      await waitFor(() => isSymlink(link), 5000);
      const queueName = 'race';
      const outbox = new SmtpOutbox({ connection: redis.url, queueName });
      const worker = new SmtpOutboxWorker({
        connection: redis.url,
        queueName,
        concurrency: 4,
        attachmentRoot: root,
        handler: { hostname: '127.0.0.1', port: server.port, encryption: 'none' },
      });
      try {
        await outbox.waitUntilReady();
        await worker.waitUntilReady();
        const ids: string[] = [];
        for (let i = 0; i < JOBS; i++)
          ids.push(
            await outbox.send({
              fromAddress: 'a@x.example',
              toAddresses: ['b@x.example'],
              subject: `race ${i}`,
              textBody: 'see the attachment',
              attachments: [{ filename: 'report.txt', path: link }],
            }),
          );
        const statuses: string[] = [];
        for (const id of ids) {
          let r: unknown;
          await waitFor(async () => {
            r = await outbox.getResult(id);
            return typeof r === 'object';
          }, 20_000);
          statuses.push(String((r as { status: string }).status));
        }
        expect(statuses.every((s) => s === 'success' || s === 'invalid')).toBe(true);
        // The part may be sent as it is or in base64: neither form of the secret may appear.
        const encoded = Buffer.from(SECRET).toString('base64');
        for (const m of server.messages) {
          expect(m.data.toString()).not.toContain(SECRET);
          expect(m.data.toString()).not.toContain(encoded);
        }
        expect(server.messages.length).toBe(statuses.filter((s) => s === 'success').length);
        console.log(
          `race: ${statuses.filter((s) => s === 'success').length} sent the inside file, ${statuses.filter((s) => s === 'invalid').length} refused`,
        );
      } finally {
        swapper.kill('SIGKILL');
        await worker.close();
        await outbox.close();
      }
    }, 60_000);
  });

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
