/** The outbox `connection` option (src/outbox/connection.ts): shapes checked at construction, drivers detected. */
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { checkConnection, driverOf, keySlot } from '../../src/outbox/connection.js';

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

  it('computes Redis Cluster key slots (CRC16 of the hash tag), as CLUSTER KEYSLOT does', () => {
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('bar')).toBe(5061);
    expect(keySlot('hello')).toBe(866);
    expect(keySlot('bull:{mail}:wait')).toBe(keySlot('mail'));
    expect(keySlot('bull:{mail}:smtpwire:handover:7')).toBe(keySlot('{mail}'));
    // An empty tag is no tag: the whole key is hashed.
    expect(keySlot('a{}b')).not.toBe(keySlot(''));
  });

  it('without ioredis installed, options fail with a typed error naming `npm install ioredis`', async () => {
    // A resolve hook in a child process makes ioredis unresolvable, as in an app that never installed it.
    const hook = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
export async function resolve(specifier, context, next) {
  if (/^ioredis(\\\\/|$)/.test(specifier)) throw Object.assign(new Error("Cannot find package 'ioredis'"), { code: 'ERR_MODULE_NOT_FOUND' });
  return next(specifier, context);
}\`));
`)}`;
    const script = `
const { SmtpOutbox } = await import(${JSON.stringify(join(ROOT, 'src/outbox/index.ts'))});
const outbox = new SmtpOutbox({ connection: { port: 1 } });
try { await outbox.waitUntilReady(); console.log('ready?'); }
catch (err) { console.log(err.name + ' ' + err.code + ' ' + err.message); }
await outbox.close();`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', hook, '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: ROOT, timeout: 30_000 },
    );
    expect(stdout).toMatch(/^InvalidArgumentError ERR_\w+ connection: .*npm install ioredis/);
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
      ['outbox-worker', '--sentinels', '127.0.0.1:26379', 'localhost'],
      ['outbox-worker', '--redis', 'redis://x', '--cluster', '127.0.0.1:7000', 'localhost'],
      ['outbox-worker', '--cluster', '127.0.0.1', 'localhost'],
      ['outbox-worker', '--cluster', '127.0.0.1:70000', 'localhost'],
      ['outbox-worker', '--progress', '-1', 'localhost'],
      ['outbox-worker', '--redis-pass-env', 'NOT_SET_HERE', 'localhost'],
      ['outbox-worker', '--postgres', 'redis://x', 'localhost'],
      ['outbox-worker', '--postgres', 'not a url', 'localhost'],
      ['outbox-worker', '--postgres', 'postgres://x', '--redis', 'redis://x', 'localhost'],
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
  });
});
