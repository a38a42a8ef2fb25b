/**
 * The hand-over claim is acknowledged before the final dot leaves, never pipelined ahead of its reply (issue 24).
 * A TCP proxy in front of a real redis-server holds, for HOLD_MS, every reply Redis sends on a connection once a
 * claim went through it; the scripted SMTP server notes when each final dot arrives. Each dot must come after
 * the claim's reply was let through (and so at least HOLD_MS after the claim), on both drivers (ioredis and a
 * node-redis client).
 */
import net from 'node:net';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpOutbox, SmtpOutboxWorker } from '../../src/outbox/index.js';
import { startScriptedServer, waitFor } from '../../src/testing/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { type RedisInstance, redisAvailability, startRedis } from '../helpers/redis.js';

const availability = await redisAvailability();
const HOLD_MS = 400;
const JOBS = 3;

/** The claim script's call: EVALSHA/EVAL, 3 keys (the last the claims set), 5 arguments = 11 elements. */
const CLAIM_CALL = /\*11\r\n\$(?:7\r\nEVALSHA|4\r\nEVAL)\r\n.*?:smtpwire:claims\r\n/is;

interface ClaimProxy {
  port: number;
  /** When a claim passed towards Redis, and when each held reply chunk was let through to the worker. */
  claims: number[];
  released: number[];
  close(): Promise<void>;
}

async function startClaimProxy(upstreamPort: number): Promise<ClaimProxy> {
  const claims: number[] = [];
  const released: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let holding = false;
    client.on('data', (chunk: Buffer) => {
      if (CLAIM_CALL.test(chunk.toString('latin1'))) {
        claims.push(performance.now());
        holding = true;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!holding) {
        client.write(chunk);
        return;
      }
      // Same delay for every chunk: the replies stay in order.
      setTimeout(() => {
        released.push(performance.now());
        client.write(chunk);
      }, HOLD_MS);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) s.once('error', end).once('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    claims,
    released,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

if (!availability.available) reportUnavailable(availability);
else
  describe('the hand-over claim is acknowledged before the final dot is written', () => {
    let redis: RedisInstance;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it.each(['ioredis', 'node-redis'])(
      '%s: each dot arrives after its claim reply was let through, never ahead of it',
      async (driver) => {
        const proxy = await startClaimProxy(redis.port);
        const dots: number[] = [];
        const smtp = await startScriptedServer({
          onCommand: (_s, _l, event) => {
            if (event === 'DATA_END') dots.push(performance.now());
            return undefined;
          },
        });
        const queueName = `order-${driver}`;
        const nodeRedis =
          driver === 'node-redis' ? createClient({ url: `redis://127.0.0.1:${proxy.port}` }) : undefined;
        nodeRedis?.on('error', () => {});
        const outbox = new SmtpOutbox({ connection: { port: redis.port }, queueName });
        const worker = new SmtpOutboxWorker({
          connection: nodeRedis ?? `redis://127.0.0.1:${proxy.port}`,
          queueName,
          concurrency: 1,
          handler: { hostname: '127.0.0.1', port: smtp.port, encryption: 'none' },
        });
        try {
          if (nodeRedis) await nodeRedis.connect();
          await worker.waitUntilReady();
          const ids: string[] = [];
          for (let i = 0; i < JOBS; i++)
            ids.push(
              await outbox.send({
                fromAddress: 'a@example.com',
                toAddresses: ['b@example.com'],
                subject: `order ${i}`,
                textBody: 'x',
              }),
            );
          await waitFor(async () => {
            const r = await outbox.getResult(ids.at(-1)!);
            return typeof r === 'object' && r?.status === 'success';
          }, 20_000);
          expect(dots).toHaveLength(JOBS);
          const gaps: string[] = [];
          for (const dot of dots) {
            // Jobs run one at a time: the last claim before a dot is that message's claim.
            const claim = proxy.claims.filter((c) => c < dot).at(-1)!;
            const reply = proxy.released.find((r) => r > claim)!;
            expect(claim, 'a claim went to Redis before the dot').toBeDefined();
            expect(dot - claim).toBeGreaterThanOrEqual(HOLD_MS);
            expect(reply, 'the claim reply was let through').toBeDefined();
            expect(dot).toBeGreaterThan(reply);
            gaps.push((dot - reply).toFixed(2));
          }
          console.info(`${driver}: claim reply let through → dot at the SMTP server, ms: ${gaps.join(', ')}`);
        } finally {
          await worker.close();
          await outbox.close();
          await nodeRedis?.destroy();
          await smtp.close();
          await proxy.close();
        }
      },
      30_000,
    );
  });
