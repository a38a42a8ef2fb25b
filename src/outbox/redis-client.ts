/**
 * A small Redis client on `node:net` / `node:tls` that implements BullMQ's `IRedisClient` interface, so
 * the outbox needs no Redis driver package: BullMQ 6 ships adapters for ioredis, node-redis and Bun
 * but makes them all optional, and smtpwire keeps to zero dependencies beyond its one optional peer.
 * (An ioredis or node-redis instance given as `connection` is passed to BullMQ untouched instead.)
 *
 * Semantics chosen for a durable outbox, where ioredis differs:
 * - A command in flight when the connection drops is rejected with BullMQ's `ConnectionClosedError`,
 *   never re-sent after the reconnect: a script that may have run must not run twice.
 * - Commands issued while (re)connecting wait in an offline queue, as ioredis does with
 *   `maxRetriesPerRequest: null` (what BullMQ requires), and go out once the connection is ready.
 * - Reconnects forever with a capped backoff until `quit()` / `disconnect()`.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import { Readable } from 'node:stream';
import type * as tls from 'node:tls';
import { ConnectionClosedError } from 'bullmq';
import { pairs, RespTransaction } from './redis-transaction.js';
import { encodeCommand, type RespArg, RespParser, RespReplyError, type RespValue } from './resp.js';

/** Where and how to connect (the subset of ioredis options that matter here). */
export interface RedisConnectionOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 6379. */
  port?: number;
  username?: string;
  password?: string;
  /** Database number (SELECT); default 0. */
  db?: number;
  /** TLS options, or true for the defaults (a `rediss://` URL sets it too). */
  tls?: tls.ConnectionOptions | boolean;
  /** CLIENT SETNAME after connecting. */
  connectionName?: string;
  /** ms; default 10,000. */
  connectTimeout?: number;
}

/** The keys {@link RedisConnectionOptions} accepts (strict options, see `options.ts`). */
export const REDIS_OPTION_KEYS: readonly string[] = Object.freeze([
  'host',
  'port',
  'username',
  'password',
  'db',
  'tls',
  'connectionName',
  'connectTimeout',
]);

/** `redis://[user:pass@]host[:port][/db]` or `rediss://…` (TLS) → options. */
export function parseRedisUrl(url: string): RedisConnectionOptions {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`not a redis:// URL: ${u.protocol}`);
  const db = u.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db)) throw new Error(`not a database number: ${JSON.stringify(db)}`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: true } : {}),
  };
}

interface Pending {
  resolve: (value: RespValue) => void;
  reject: (err: Error) => void;
  blocking: boolean;
}

interface Queued extends Pending {
  args: readonly RespArg[];
}

interface Script {
  sha: string;
  lua: string;
  numberOfKeys: number;
}

type Status = 'wait' | 'connecting' | 'connect' | 'ready' | 'reconnecting' | 'close' | 'end';

/** Synchronous, lazy loading of a built-in (`process.getBuiltinModule` needs Node 20.16). */
const lazyRequire = createRequire(import.meta.url);

const BLOCKING = new Set(['BZPOPMIN', 'BLPOP', 'BRPOP', 'BLMOVE', 'BZPOPMAX']);
const MAX_RECONNECT_DELAY = 2000;
/** How long `quit()` waits for the server's goodbye before closing the socket itself. */
const QUIT_GRACE = 2000;

/** One connection to Redis, reconnecting; the `IRedisClient` BullMQ talks to. */
export class RespRedisClient extends EventEmitter {
  status: Status = 'wait';
  readonly isCluster = false;
  /** ioredis exposes its options; BullMQ reads `keyPrefix`, `maxRetriesPerRequest` and `connectionName`. */
  options: Record<string, unknown>;
  /** BullMQ's marker for an adapter it can use as is. */
  readonly __smtpwire_resp = true;

  readonly #opts: RedisConnectionOptions;
  #socket: net.Socket | null = null;
  #parser = new RespParser();
  #pending: Pending[] = [];
  #offline: Queued[] = [];
  readonly #scripts = new Map<string, Script>();
  /** Script SHAs loaded on the current connection (the cache dies with a restarted server). */
  #loaded = new Set<string>();
  #closing = false;
  #attempts = 0;
  #timer: NodeJS.Timeout | null = null;
  #connecting: Promise<void> | null = null;
  #corked = false;
  /** Listeners of the current connect() attempt, told of socket errors without an 'error' listener. */
  readonly #socketErrors = new Set<(err: Error) => void>();

  constructor(options: RedisConnectionOptions = {}, { lazyConnect = false }: { lazyConnect?: boolean } = {}) {
    super();
    this.#opts = { ...options };
    this.options = { ...options, maxRetriesPerRequest: null };
    if (!lazyConnect) this.connect().catch(() => {});
  }

  /**
   * Connects; resolves when the connection is ready. Rejects, as ioredis does, when this attempt fails
   * (the client keeps reconnecting in the background): BullMQ's reconnect loops rely on it to notice a close.
   */
  connect(): Promise<void> {
    if (this.status === 'ready') return Promise.resolve();
    this.#closing = false;
    this.#connecting ??= new Promise<void>((resolve, reject) => {
      let lastError: Error | undefined;
      const done = (): void => {
        this.off('ready', onReady);
        this.off('close', onClose);
        this.off('end', onClose);
        this.#socketErrors.delete(onError);
      };
      const onReady = (): void => {
        done();
        resolve();
      };
      const onError = (err: Error): void => {
        lastError = err;
      };
      const onClose = (): void => {
        done();
        reject(lastError ? new ConnectionClosedError(lastError.message, lastError) : new ConnectionClosedError());
      };
      this.once('ready', onReady);
      this.once('close', onClose);
      this.once('end', onClose);
      this.#socketErrors.add(onError);
      if (this.status === 'wait' || this.status === 'end' || this.status === 'close') this.#open();
    }).finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  #open(): void {
    this.status = 'connecting';
    const { host = '127.0.0.1', port = 6379, connectTimeout = 10_000 } = this.#opts;
    let socket: net.Socket;
    if (this.#opts.tls) {
      // Loaded only for rediss: importing the outbox must not pull in node:tls for a plain Redis.
      const tlsOptions = this.#opts.tls === true ? {} : this.#opts.tls;
      socket = (lazyRequire('node:tls') as typeof tls).connect({
        host,
        port,
        servername: host,
        ...tlsOptions,
      });
    } else socket = net.connect({ host, port });
    this.#socket = socket;
    this.#parser = new RespParser();
    this.#loaded = new Set();
    socket.setNoDelay(true);
    // A half-open connection (host gone, no reset) is found by keep-alive probes in seconds, not by the
    // kernel's retransmission timeout (~15 min) while a claim before the final dot waits on it.
    socket.setKeepAlive(true, 10_000);
    socket.setTimeout(connectTimeout, () => socket.destroy(new Error(`connect timeout after ${connectTimeout} ms`)));
    socket.once(this.#opts.tls ? 'secureConnect' : 'connect', () => {
      socket.setTimeout(0);
      this.status = 'connect';
      this.emit('connect');
      void this.#handshake(socket);
    });
    socket.on('data', (chunk: Buffer) => this.#onData(socket, chunk));
    socket.on('error', (err) => this.#emitError(err));
    socket.on('close', () => this.#onClose(socket));
  }

  async #handshake(socket: net.Socket): Promise<void> {
    const { username, password, db, connectionName } = this.#opts;
    try {
      const steps: RespArg[][] = [];
      if (password !== undefined) steps.push(username ? ['AUTH', username, password] : ['AUTH', password]);
      if (db) steps.push(['SELECT', db]);
      if (connectionName) steps.push(['CLIENT', 'SETNAME', connectionName]);
      await Promise.all(steps.map((args) => this.#write(socket, args)));
    } catch (err) {
      // Never the password in the message: only the server's refusal text.
      this.#emitError(new Error(`Redis handshake failed: ${(err as Error).message}`));
      socket.destroy();
      return;
    }
    if (this.#socket !== socket) return;
    this.status = 'ready';
    this.#attempts = 0;
    const queued = this.#offline;
    this.#offline = [];
    for (const q of queued) this.#send(socket, q);
    this.emit('ready');
  }

  #onData(socket: net.Socket, chunk: Buffer): void {
    let replies: RespValue[];
    try {
      replies = this.#parser.push(chunk);
    } catch (err) {
      this.#emitError(err as Error);
      socket.destroy();
      return;
    }
    for (const reply of replies) {
      const p = this.#pending.shift();
      if (!p) continue;
      if (reply instanceof RespReplyError) p.reject(reply);
      else p.resolve(reply);
    }
  }

  #onClose(socket: net.Socket): void {
    if (this.#socket !== socket) return;
    this.#socket = null;
    const pending = this.#pending;
    this.#pending = [];
    for (const p of pending) p.reject(new ConnectionClosedError());
    this.status = 'close';
    this.emit('close');
    if (this.#closing) {
      this.#end();
      return;
    }
    this.status = 'reconnecting';
    const delay = Math.min(MAX_RECONNECT_DELAY, 50 * 2 ** this.#attempts++);
    this.emit('reconnecting', delay);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#closing) this.#open();
    }, delay);
  }

  #end(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const offline = this.#offline;
    this.#offline = [];
    for (const q of offline) q.reject(new ConnectionClosedError());
    this.status = 'end';
    this.emit('end');
  }

  #emitError(err: Error): void {
    for (const listener of this.#socketErrors) listener(err);
    // ioredis logs an error nobody listens to; an EventEmitter would throw it.
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  #write(socket: net.Socket, args: readonly RespArg[]): Promise<RespValue> {
    return new Promise((resolve, reject) => {
      this.#send(socket, { args, resolve, reject, blocking: false });
    });
  }

  #send(socket: net.Socket, q: Queued): void {
    this.#pending.push({ resolve: q.resolve, reject: q.reject, blocking: q.blocking });
    // Commands issued while one event is handled (its promise continuations included) leave in one write,
    // one syscall: BullMQ and the hand-over issue several per job.
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      setImmediate(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    socket.write(encodeCommand(q.args));
  }

  /** Sends one command; resolves with its reply, rejects with the error reply or a closed connection. */
  call(...args: RespArg[]): Promise<RespValue> {
    if (this.#closing || this.status === 'end') return Promise.reject(new ConnectionClosedError());
    return new Promise((resolve, reject) => {
      const q: Queued = { args, resolve, reject, blocking: BLOCKING.has(String(args[0]).toUpperCase()) };
      if (this.status === 'ready' && this.#socket) this.#send(this.#socket, q);
      else {
        this.#offline.push(q);
        if (this.status === 'wait') this.connect().catch(() => {});
      }
    });
  }

  /** Closes at once: pending commands reject; with `reconnect`, connects again. */
  disconnect(reconnect = false): void {
    if (!reconnect) this.#closing = true;
    if (this.#socket) this.#socket.destroy();
    else if (!reconnect && this.status !== 'end') this.#end();
  }

  /** QUIT after the commands in flight (a blocking command is cut short), then closes. */
  async quit(): Promise<string> {
    this.#closing = true;
    const socket = this.#socket;
    if (!socket || this.status !== 'ready') {
      this.disconnect();
      return 'OK';
    }
    if (this.#pending.some((p) => p.blocking)) {
      socket.destroy();
      return 'OK';
    }
    const grace = setTimeout(() => socket.destroy(), QUIT_GRACE);
    try {
      await this.#write(socket, ['QUIT']);
    } catch {
      // The server closed first: that is the goodbye too.
    } finally {
      clearTimeout(grace);
      socket.destroy();
    }
    return 'OK';
  }

  /** A new client to the same server (BullMQ's blocking connections). */
  duplicate(override: { connectionName?: string } = {}): RespRedisClient {
    const copy = new RespRedisClient({
      ...this.#opts,
      ...(override.connectionName ? { connectionName: override.connectionName } : {}),
    });
    for (const [name, script] of this.#scripts) copy.defineCommand(name, script);
    return copy;
  }

  defineCommand(name: string, definition: { numberOfKeys: number; lua: string }): void {
    const sha = createHash('sha1').update(definition.lua).digest('hex');
    this.#scripts.set(name, { sha, lua: definition.lua, numberOfKeys: definition.numberOfKeys });
    (this as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => this.runCommand(name, args);
  }

  /** EVALSHA of a defined script, EVAL when the server does not have it cached (NOSCRIPT). */
  async runCommand(name: string, args: unknown[]): Promise<RespValue> {
    const { script, argv } = this.#scriptCall(name, args);
    try {
      return await this.call('EVALSHA', script.sha, ...argv);
    } catch (err) {
      if (!(err instanceof RespReplyError) || !err.message.startsWith('NOSCRIPT')) throw err;
      return this.call('EVAL', script.lua, ...argv);
    }
  }

  #scriptCall(name: string, args: unknown[]): { script: Script; argv: RespArg[] } {
    const script = this.#scripts.get(name);
    if (!script) throw new Error(`unknown script command ${JSON.stringify(name)}`);
    const flat = args.length === 1 && Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
    const argv = flat.map((a): RespArg => (Buffer.isBuffer(a) ? a : a === undefined || a === null ? '' : String(a)));
    return { script, argv: [script.numberOfKeys, ...argv] };
  }

  /** Loads scripts a MULTI will call by SHA (a NOSCRIPT inside EXEC cannot fall back to EVAL). */
  async ensureLoaded(names: Iterable<string>): Promise<void> {
    const loads: Promise<unknown>[] = [];
    for (const name of new Set(names)) {
      const script = this.#scripts.get(name);
      if (!script || this.#loaded.has(script.sha)) continue;
      loads.push(this.call('SCRIPT', 'LOAD', script.lua).then(() => this.#loaded.add(script.sha)));
    }
    await Promise.all(loads);
  }

  /** For a transaction: the EVALSHA arguments of a defined script. */
  scriptArgs(name: string, args: unknown[]): RespArg[] {
    const { script, argv } = this.#scriptCall(name, args);
    return ['EVALSHA', script.sha, ...argv];
  }

  multi(): RespTransaction {
    return new RespTransaction(this, true);
  }

  pipeline(): RespTransaction {
    return new RespTransaction(this, false);
  }

  async hgetall(key: string): Promise<Record<string, string>> {
    return pairs((await this.call('HGETALL', key)) as string[] | null);
  }
  async hget(key: string, field: string): Promise<string | null> {
    return (await this.call('HGET', key, field)) as string | null;
  }
  async hmget(key: string, ...fields: string[]): Promise<(string | null)[]> {
    return (await this.call('HMGET', key, ...fields)) as (string | null)[];
  }
  async hset(key: string, data: Record<string, string | number>): Promise<number> {
    return (await this.call('HSET', key, ...Object.entries(data).flat())) as number;
  }
  async hdel(key: string, ...fields: string[]): Promise<number> {
    return (await this.call('HDEL', key, ...fields)) as number;
  }
  async hexists(key: string, field: string): Promise<number> {
    return (await this.call('HEXISTS', key, field)) as number;
  }
  async get(key: string): Promise<string | null> {
    return (await this.call('GET', key)) as string | null;
  }
  async set(key: string, value: string | number, options: { PX?: number; EX?: number } = {}): Promise<string | null> {
    const extra: RespArg[] = options.PX != null ? ['PX', options.PX] : options.EX != null ? ['EX', options.EX] : [];
    return (await this.call('SET', key, value, ...extra)) as string | null;
  }
  async del(...keys: string[]): Promise<number> {
    return keys.length === 0 ? 0 : ((await this.call('DEL', ...keys)) as number);
  }
  async zrange(key: string, start: number, end: number, options: { WITHSCORES?: boolean } = {}): Promise<string[]> {
    return (await this.call('ZRANGE', key, start, end, ...(options.WITHSCORES ? ['WITHSCORES'] : []))) as string[];
  }
  async zrevrange(key: string, start: number, end: number, options: { WITHSCORES?: boolean } = {}): Promise<string[]> {
    return (await this.call('ZREVRANGE', key, start, end, ...(options.WITHSCORES ? ['WITHSCORES'] : []))) as string[];
  }
  async zcard(key: string): Promise<number> {
    return (await this.call('ZCARD', key)) as number;
  }
  async zscore(key: string, member: string): Promise<string | null> {
    return (await this.call('ZSCORE', key, member)) as string | null;
  }
  async lrange(key: string, start: number, end: number): Promise<string[]> {
    return (await this.call('LRANGE', key, start, end)) as string[];
  }
  async llen(key: string): Promise<number> {
    return (await this.call('LLEN', key)) as number;
  }
  async ltrim(key: string, start: number, end: number): Promise<string> {
    return (await this.call('LTRIM', key, start, end)) as string;
  }
  async lpos(key: string, value: string): Promise<number | null> {
    return (await this.call('LPOS', key, value)) as number | null;
  }
  async smembers(key: string): Promise<string[]> {
    return (await this.call('SMEMBERS', key)) as string[];
  }
  async xadd(
    key: string,
    id: string,
    fields: Record<string, string | number>,
    options: { MAXLEN?: number; approximate?: boolean } = {},
  ): Promise<string> {
    const trim: RespArg[] =
      options.MAXLEN != null ? ['MAXLEN', ...(options.approximate === false ? [] : ['~']), options.MAXLEN] : [];
    return (await this.call('XADD', key, ...trim, id, ...Object.entries(fields).flat())) as string;
  }
  async xread(streams: { key: string; id: string }[], options: { BLOCK?: number; COUNT?: number } = {}) {
    const args: RespArg[] = [];
    if (options.COUNT != null) args.push('COUNT', options.COUNT);
    if (options.BLOCK != null) args.push('BLOCK', options.BLOCK);
    args.push('STREAMS', ...streams.map((s) => s.key), ...streams.map((s) => s.id));
    try {
      return await this.call('XREAD', ...args);
    } catch (err) {
      if (this.#closing) return null;
      throw err;
    }
  }
  async xtrim(key: string, strategy: 'MAXLEN', threshold: number, options: { approximate?: boolean } = {}) {
    return (await this.call(
      'XTRIM',
      key,
      strategy,
      ...(options.approximate === false ? [] : ['~']),
      threshold,
    )) as number;
  }
  async bzpopmin(key: string, timeout: number): Promise<[string, string, string] | null> {
    try {
      const reply = (await this.call('BZPOPMIN', key, timeout)) as string[] | null;
      return reply && reply.length >= 3 ? [reply[0]!, reply[1]!, reply[2]!] : null;
    } catch (err) {
      if (this.#closing) return null;
      throw err;
    }
  }
  async info(): Promise<string> {
    return (await this.call('INFO')) as string;
  }
  async clientSetName(name: string): Promise<RespValue> {
    return this.call('CLIENT', 'SETNAME', name);
  }
  async clientList(): Promise<string> {
    return (await this.call('CLIENT', 'LIST')) as string;
  }
  async clientInfo(): Promise<string> {
    return (await this.call('CLIENT', 'INFO')) as string;
  }
  async scan(cursor: string | number, options: { MATCH?: string; COUNT?: number } = {}): Promise<[string, string[]]> {
    const args: RespArg[] = [cursor];
    if (options.MATCH) args.push('MATCH', options.MATCH);
    if (options.COUNT) args.push('COUNT', options.COUNT);
    const [next, keys] = (await this.call('SCAN', ...args)) as [string, string[]];
    return [next, keys];
  }
  scanStream(options: { match: string; count?: number }): Readable {
    let cursor = '0';
    let started = false;
    const stream: Readable = new Readable({
      objectMode: true,
      read: () => {
        if (started && cursor === '0') {
          stream.push(null);
          return;
        }
        started = true;
        this.scan(cursor, { MATCH: options.match, ...(options.count ? { COUNT: options.count } : {}) }).then(
          ([next, keys]) => {
            cursor = next;
            stream.push(keys);
            if (cursor === '0') stream.push(null);
          },
          (err: Error) => stream.destroy(err),
        );
      },
    });
    return stream;
  }
}
