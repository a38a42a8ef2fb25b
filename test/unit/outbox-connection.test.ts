/** The outbox `connection` option (src/outbox/connection.ts, redis-client.ts): URLs, options, instances. */
import { describe, expect, it } from 'vitest';
import { resolveConnection } from '../../src/outbox/connection.js';
import { parseRedisUrl, RespRedisClient } from '../../src/outbox/redis-client.js';

describe('outbox connection option', () => {
  it('parses redis:// and rediss:// URLs, credentials decoded, database checked', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6380/2')).toEqual({ host: '127.0.0.1', port: 6380, db: 2 });
    expect(parseRedisUrl('rediss://u%40x:p%3Aw@[::1]')).toEqual({
      host: '::1',
      port: 6379,
      username: 'u@x',
      password: 'p:w',
      tls: true,
    });
    expect(() => parseRedisUrl('http://x')).toThrow(/redis:\/\//);
    expect(() => parseRedisUrl('redis://x/db1')).toThrow(/database/);
  });

  it('Redis options and URLs get smtpwire’s own client (lazy: no socket until used); unknown keys are named', async () => {
    const a = resolveConnection({ host: '127.0.0.1', port: 1 }, true);
    expect(a.bullmq).toBeInstanceOf(RespRedisClient);
    expect((a.bullmq as RespRedisClient).status).toBe('wait');
    await a.close();
    expect((a.bullmq as RespRedisClient).status).toBe('end');
    expect(() => resolveConnection({ hots: 'x' } as never)).toThrow(/did you mean 'host'/);
    expect(() => resolveConnection('redis://x/nope')).toThrow(/connection: not a database number/);
    expect(() => resolveConnection(undefined as never)).toThrow(/connection is required/);
    expect(() => resolveConnection(6379 as never)).toThrow(/connection must be/);
  });

  it('a driver instance (anything with duplicate()) goes to BullMQ untouched and is left open', async () => {
    const driver = { duplicate() {}, connect() {}, disconnect() {} };
    const r = resolveConnection(driver);
    expect(r.bullmq).toBe(driver);
    await r.close();
  });
});

describe('smtpwire outbox-worker usage errors', () => {
  const run = async (argv: string[]) => {
    const { main } = await import('../../src/cli/main.js');
    let out = '';
    let err = '';
    const io = {
      stdout: {
        write: (s: string) => {
          out += s;
          return true;
        },
      },
      stderr: {
        write: (s: string) => {
          err += s;
          return true;
        },
      },
      stdin: process.stdin,
      env: {},
    } as never;
    return { code: await main(argv, io), out, err };
  };

  it('exits 2 with the usage for a bad --limit, a missing server or an unknown flag', async () => {
    for (const argv of [
      ['outbox-worker', '--limit', '10', 'localhost'],
      ['outbox-worker', '--plain'],
      ['outbox-worker', '--queue-name', 'x', 'localhost'],
      ['outbox-worker', '--concurrency', '0', 'localhost'],
    ]) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toContain('usage: smtpwire outbox-worker');
    }
    const help = await run(['outbox-worker', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('--limit MAX/MS');
  });
});
