/** The outbox `connection` option (src/outbox/connection.ts): shapes checked at construction, drivers detected. */
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createClientPool } from 'redis';
import { describe, expect, it } from 'vitest';
import { bullmqConnection, checkConnection, connectionFor, driverOf, keySlot } from '../../src/outbox/connection.js';
import { clientView, type NodeRedisLike, nodeRedisCommand, nodeRedisKind } from '../../src/outbox/node-redis.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('outbox connection option', () => {
  it('URLs must be redis:// or rediss://; options and clients are objects; keyPrefix is refused', () => {
    expect(() => checkConnection('redis://127.0.0.1:6380/2')).not.toThrow();
    expect(() => checkConnection('rediss://u:p@[::1]')).not.toThrow();
    expect(() => checkConnection('http://x')).toThrow(/redis:\/\//);
    expect(() => checkConnection(undefined)).toThrow(/connection is required/);
    expect(() => checkConnection(6379 as never)).toThrow(/connection must be/);
    expect(() => checkConnection({ keyPrefix: 'x:' })).toThrow(/keyPrefix/);
    expect(() => checkConnection({ sentinels: [{ host: '127.0.0.1', port: 26379 }], name: 'mymaster' })).not.toThrow();
  });

  it('postgres:// URLs and { postgres } select PostgreSQL; a malformed one is refused naming its field', () => {
    expect(() => checkConnection('postgres://u@127.0.0.1:5432/db')).not.toThrow();
    expect(() => checkConnection('postgresql://u@127.0.0.1/db')).not.toThrow();
    expect(() => checkConnection({ postgres: { host: '127.0.0.1', database: 'mail' } })).not.toThrow();
    expect(() => checkConnection({ postgres: 'postgres://x' })).not.toThrow();
    const field = (connection: unknown): string | undefined => {
      try {
        checkConnection(connection as never);
      } catch (err) {
        return (err as { field?: string }).field;
      }
      return undefined;
    };
    expect(field({ postgres: 5432 })).toBe('connection.postgres');
    expect(field({ postgres: 'mysql://x' })).toBe('connection.postgres');
    expect(field({ postgres: { query() {} } })).toBe('connection.postgres');
    expect(field({ postgres: {}, port: 1 })).toBe('connection');
    expect(field({ postgres: { schema: 'mail' } })).toBe('connection.postgres.schema');
  });

  it('detects ioredis and node-redis instances structurally; an unknown client is refused', () => {
    expect(driverOf({ defineCommand() {}, duplicate() {} })).toBe('ioredis');
    expect(driverOf({ sendCommand() {}, isOpen: false, duplicate() {} })).toBe('node-redis');
    expect(driverOf({ port: 6379 })).toBeNull();
    expect(() => driverOf({ duplicate() {} })).toThrow(/ioredis .* or node-redis/);
  });

  it('tells a node-redis client, Sentinel and Cluster apart structurally (all three are node-redis)', () => {
    const common = { isOpen: false, sendCommand() {}, duplicate() {}, destroy() {}, on() {} };
    const sentinel = { ...common, getMasterNode() {}, acquire() {} };
    const cluster = { ...common, getNodeClientForKey() {}, masters: [] };
    for (const instance of [common, sentinel, cluster]) expect(driverOf(instance)).toBe('node-redis');
    expect(nodeRedisKind(common)).toBe('client');
    expect(nodeRedisKind(sentinel)).toBe('sentinel');
    expect(nodeRedisKind(cluster)).toBe('cluster');
    // A pool: no duplicate(), one connection per command at best.
    expect(() => driverOf(createClientPool({ url: 'redis://127.0.0.1:1' }))).toThrow(/client pool is not supported/);
  });

  /** A fake node-redis instance recording what it is asked. */
  function fake(kind: 'sentinel' | 'cluster') {
    const calls: unknown[][] = [];
    const listeners: string[] = [];
    const record = <T>(call: unknown[], reply: T): T => {
      calls.push(call);
      return reply;
    };
    const node = { sendCommand: async (args: string[]) => record(['node', ...args], 1) };
    const instance = {
      isOpen: true,
      duplicates: 0,
      sendCommand: async (...args: unknown[]) => record(['instance', ...args], 1),
      duplicate() {
        this.duplicates++;
        return this;
      },
      destroy: () => calls.push(['destroy']),
      close: async () => void calls.push(['close']),
      on: (event: string) => listeners.push(event),
      ...(kind === 'cluster'
        ? { getNodeClientForKey: async (key: string, ro: boolean) => record(['route', key, ro], node) }
        : { getMasterNode() {}, acquire() {} }),
    };
    return { instance, calls, listeners };
  }

  it("a Cluster seen as a client: 'ready' / 'end' are its 'connect' / 'disconnect', sendCommand(args) routes by no key", async () => {
    const { instance, calls, listeners } = fake('cluster');
    const view = clientView(instance as unknown as NodeRedisLike) as NodeRedisLike & Record<string, never>;
    view.on('ready', () => {});
    view.on('end', () => {});
    view.on('error', () => {});
    expect(listeners).toEqual(['connect', 'disconnect', 'error']);
    await view.sendCommand(['CLIENT', 'LIST']);
    expect(calls).toEqual([['instance', undefined, false, ['CLIENT', 'LIST'], undefined]]);
    // BullMQ's ioredis-style duplicate options never reach node-redis (`name` is a Sentinel's primary there).
    const dup = (view.duplicate as (o: object) => NodeRedisLike & Record<string, unknown>)({ name: 'bull:x' });
    expect(instance.duplicates).toBe(1);
    expect(nodeRedisKind(dup)).toBe('cluster');
    expect(dup.sendCommand).not.toBe(instance.sendCommand);
  });

  it('a Sentinel seen as a client: quit() closes, disconnect() destroys, sendCommand(args) goes to the primary', async () => {
    const { instance, calls } = fake('sentinel');
    const view = clientView(instance as unknown as NodeRedisLike) as NodeRedisLike & Record<string, () => unknown>;
    await view.quit!();
    view.disconnect!();
    await view.sendCommand(['INFO']);
    expect(calls).toEqual([['close'], ['destroy'], ['instance', false, ['INFO'], undefined]]);
  });

  it('bullmqConnection: a node-redis Sentinel or Cluster as the view BullMQ can drive; anything else as it is', async () => {
    for (const kind of ['sentinel', 'cluster'] as const) {
      const { instance, calls } = fake(kind);
      const view = bullmqConnection(instance) as unknown as NodeRedisLike;
      expect(view).not.toBe(instance);
      await view.sendCommand(['PING']);
      expect(calls.at(-1)).toEqual(
        kind === 'cluster'
          ? ['instance', undefined, false, ['PING'], undefined]
          : ['instance', false, ['PING'], undefined],
      );
    }
    const ioredisLike = { defineCommand() {}, duplicate() {} };
    expect(bullmqConnection(ioredisLike)).toBe(ioredisLike);
    const options = { host: '127.0.0.1' };
    expect(bullmqConnection(options)).toBe(options);
  });

  it("a Sentinel's blocking pop cut by close() fails as a closed client's does (BullMQ's adapter then ignores it)", async () => {
    const { instance } = fake('sentinel');
    const failing = Object.assign(instance, {
      bzPopMin: async () => {
        throw new TypeError("Cannot read properties of undefined (reading 'isReady')");
      },
    });
    const view = clientView(failing as unknown as NodeRedisLike) as unknown as {
      bzPopMin(key: string, timeout: number): Promise<unknown>;
    };
    await expect(view.bzPopMin('k', 1)).rejects.toThrow(/reading 'isReady'/);
    failing.isOpen = false;
    await expect(view.bzPopMin('k', 1)).rejects.toThrow(/^The client is closed$/);
  });

  it("WAIT goes where the claim went: a Cluster's connection to the key's primary, a Sentinel's primary, the client", async () => {
    const cluster = fake('cluster');
    const wait = ['WAIT', '1', '500'];
    expect(await nodeRedisCommand(cluster.instance as unknown as NodeRedisLike)('bull:{mail}:x', wait)).toBe(1);
    expect(cluster.calls).toEqual([
      ['route', 'bull:{mail}:x', false],
      ['node', 'WAIT', '1', '500'],
    ]);
    const sentinel = fake('sentinel');
    await nodeRedisCommand(sentinel.instance as unknown as NodeRedisLike)('k', ['WAIT', '2', '100']);
    expect(sentinel.calls).toEqual([['instance', false, ['WAIT', '2', '100']]]);
  });

  it('outbox-worker targets: a password from the environment goes into the URL, its options and user kept', async () => {
    const { connection } = await connectionFor('ioredis', {
      url: 'rediss://app@redis.example:6380/2?family=6',
      password: 'p%41ss:@/',
    });
    expect(typeof connection).toBe('string');
    const url = new URL(connection as string);
    expect(decodeURIComponent(url.password)).toBe('p%41ss:@/');
    expect(url.username).toBe('app');
    expect(url.pathname).toBe('/2');
    expect(url.searchParams.get('family')).toBe('6');
    expect((await connectionFor('ioredis', { url: 'redis://h:1' })).connection).toBe('redis://h:1');
    const nodes = [{ host: '127.0.0.1', port: 7000 }];
    expect((await connectionFor('ioredis', { cluster: nodes, password: 'x' })).connection).toEqual({
      cluster: nodes,
      redisOptions: { password: 'x' },
    });
    // node-redis: an instance of the right kind, not connected (the worker connects its own duplicate).
    const sentinel = await connectionFor('node-redis', { sentinels: nodes, name: 'mymaster' });
    expect(nodeRedisKind(sentinel.connection as object)).toBe('sentinel');
    const cluster = await connectionFor('node-redis', { cluster: nodes });
    expect(nodeRedisKind(cluster.connection as object)).toBe('cluster');
    const client = await connectionFor('node-redis', { url: 'redis://127.0.0.1:1', password: 'x' });
    expect(nodeRedisKind(client.connection as object)).toBe('client');
    for (const c of [sentinel, cluster, client]) {
      expect((c.connection as NodeRedisLike).isOpen).toBe(false);
      await c.close();
    }
  });

  it('computes Redis Cluster key slots (CRC16 of the hash tag), as CLUSTER KEYSLOT does', () => {
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('bar')).toBe(5061);
    expect(keySlot('hello')).toBe(866);
    expect(keySlot('bull:{mail}:wait')).toBe(keySlot('mail'));
    expect(keySlot('bull:{mail}:smtpwire:handover:7')).toBe(keySlot('{mail}'));
    // An empty tag is no tag: the whole key is hashed.
    expect(keySlot('a{}b')).not.toBe(keySlot(''));
  });

  /** Runs `script` in a child process where `pkg` cannot be resolved, as in an app that never installed it. */
  async function withoutPackage(pkg: string, script: string): Promise<string> {
    const hook = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
export async function resolve(specifier, context, next) {
  if (/^${pkg}(\\\\/|$)/.test(specifier)) throw Object.assign(new Error("Cannot find package '${pkg}'"), { code: 'ERR_MODULE_NOT_FOUND' });
  return next(specifier, context);
}\`));
`)}`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', hook, '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: ROOT, timeout: 30_000 },
    );
    return stdout;
  }

  it('without ioredis installed, options fail with a typed error naming `npm install ioredis`', async () => {
    const stdout = await withoutPackage(
      'ioredis',
      `
const { SmtpOutbox } = await import(${JSON.stringify(join(ROOT, 'src/outbox/index.ts'))});
const outbox = new SmtpOutbox({ connection: { port: 1 } });
try { await outbox.waitUntilReady(); console.log('ready?'); }
catch (err) { console.log(err.name + ' ' + err.code + ' ' + err.message); }
await outbox.close();`,
    );
    expect(stdout).toMatch(/^InvalidArgumentError ERR_\w+ connection: .*npm install ioredis/);
  });

  it('without redis installed, the node-redis driver fails with a typed error naming `npm install redis`', async () => {
    const stdout = await withoutPackage(
      'redis',
      `
const { connectionFor } = await import(${JSON.stringify(join(ROOT, 'src/outbox/connection.ts'))});
try { await connectionFor('node-redis', { url: 'redis://127.0.0.1:1' }); console.log('opened?'); }
catch (err) { console.log(err.name + ' ' + err.code + ' ' + err.message); }`,
    );
    expect(stdout).toMatch(/^InvalidArgumentError ERR_\w+ connection: .*npm install redis\b/);
  });
});

it('without pg installed, a postgres:// connection fails with a typed error naming `npm install pg`', async () => {
  const hook = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
export async function resolve(specifier, context, next) {
  if (/^pg(\\\\/|$)/.test(specifier)) throw Object.assign(new Error("Cannot find package 'pg'"), { code: 'ERR_MODULE_NOT_FOUND' });
  return next(specifier, context);
}\`));
`)}`;
  const script = `
const { SmtpOutbox } = await import(${JSON.stringify(join(ROOT, 'src/outbox/index.ts'))});
const outbox = new SmtpOutbox({ connection: 'postgres://127.0.0.1:1/x' });
try { await outbox.waitUntilReady(); console.log('ready?'); }
catch (err) { console.log(err.name + ' ' + err.code + ' ' + err.message); }
await outbox.close();`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', hook, '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: ROOT, timeout: 30_000 },
  );
  expect(stdout).toMatch(
    /^InvalidArgumentError ERR_\w+ connection: PostgreSQL needs the pg package \(npm install pg\)/,
  );
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
      env: { REDIS_PASS: 'x' },
    } as never;
    return { code: await main(argv, io), out, err };
  };

  it('exits 2 with the usage for a bad --limit, a missing server or an unknown flag', async () => {
    for (const argv of [
      ['outbox-worker', '--limit', '10', 'localhost'],
      ['outbox-worker', '--plain'],
      ['outbox-worker', '--queue-name', 'x', 'localhost'],
      ['outbox-worker', '--concurrency', '0', 'localhost'],
      ['outbox-worker', '--sentinels', '127.0.0.1:26379', 'localhost'],
      ['outbox-worker', '--redis', 'redis://x', '--cluster', '127.0.0.1:7000', 'localhost'],
      ['outbox-worker', '--cluster', '127.0.0.1', 'localhost'],
      ['outbox-worker', '--cluster', '127.0.0.1:70000', 'localhost'],
      ['outbox-worker', '--progress', '-1', 'localhost'],
      ['outbox-worker', '--redis-pass-env', 'NOT_SET_HERE', 'localhost'],
      ['outbox-worker', '--postgres', 'redis://x', 'localhost'],
      ['outbox-worker', '--postgres', 'not a url', 'localhost'],
      ['outbox-worker', '--postgres', 'postgres://x', '--redis', 'redis://x', 'localhost'],
      ['outbox-worker', '--postgres', 'postgres://x', '--driver', 'node-redis', 'localhost'],
      ['outbox-worker', '--postgres', 'postgres://x', '--redis-pass-env', 'REDIS_PASS', 'localhost'],
      ['outbox-worker', '--driver', 'redis', 'localhost'],
      ['outbox-worker', '--redis', 'http://127.0.0.1:6379', 'localhost'],
    ]) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toContain('usage: smtpwire outbox-worker');
    }
    const help = await run(['outbox-worker', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('--limit MAX/MS');
    expect(help.out).toContain('--sentinels H:P');
    expect(help.out).toContain('--claim-replicas N');
    expect(help.out).toContain('--postgres postgres://');
    expect(help.out).toContain('--driver ioredis|node-redis');
  });
});
