/**
 * Pipelines and MULTI/EXEC transactions of {@link RespRedisClient}: the `IRedisTransaction` BullMQ uses to
 * read several keys at once and to run scripts atomically.
 */
import type { RespRedisClient } from './redis-client.js';
import { type RespArg, RespReplyError, type RespValue } from './resp.js';

/** A pipeline (independent commands, one write) or a MULTI/EXEC transaction. */
export class RespTransaction {
  readonly #client: RespRedisClient;
  readonly #atomic: boolean;
  readonly #commands: { args: RespArg[]; map: (v: RespValue) => unknown }[] = [];
  readonly #scripts: string[] = [];

  constructor(client: RespRedisClient, atomic: boolean) {
    this.#client = client;
    this.#atomic = atomic;
  }

  #add(args: RespArg[], map: (v: RespValue) => unknown = (v) => v): this {
    this.#commands.push({ args, map });
    return this;
  }

  hgetall(key: string): this {
    return this.#add(['HGETALL', key], (v) => pairs(v as string[] | null));
  }
  hset(key: string, data: Record<string, string | number>): this {
    return this.#add(['HSET', key, ...Object.entries(data).flat()]);
  }
  hscan(key: string, cursor: string | number, options: { COUNT?: number } = {}): this {
    return this.#add(['HSCAN', key, cursor, ...(options.COUNT != null ? ['COUNT', options.COUNT] : [])]);
  }
  smembers(key: string): this {
    return this.#add(['SMEMBERS', key]);
  }
  sscan(key: string, cursor: string | number, options: { COUNT?: number } = {}): this {
    return this.#add(['SSCAN', key, cursor, ...(options.COUNT != null ? ['COUNT', options.COUNT] : [])]);
  }
  zrange(key: string, start: number, end: number): this {
    return this.#add(['ZRANGE', key, start, end]);
  }
  lrange(key: string, start: number, end: number): this {
    return this.#add(['LRANGE', key, start, end]);
  }
  llen(key: string): this {
    return this.#add(['LLEN', key]);
  }
  del(...keys: string[]): this {
    return keys.length ? this.#add(['DEL', ...keys]) : this;
  }
  runCommand(name: string, args: unknown[]): this {
    this.#scripts.push(name);
    return this.#add(this.#client.scriptArgs(name, args));
  }

  /** Runs the commands: `[error, value]` per command, or null when a WATCH aborted the transaction. */
  async exec(): Promise<[Error | null, unknown][] | null> {
    if (this.#commands.length === 0) return [];
    await this.#client.ensureLoaded(this.#scripts);
    const client = this.#client;
    if (!this.#atomic) {
      const settled = await Promise.allSettled(this.#commands.map((c) => client.call(...c.args)));
      return settled.map((s, i): [Error | null, unknown] =>
        s.status === 'fulfilled' ? [null, this.#commands[i]!.map(s.value)] : [s.reason as Error, null],
      );
    }
    // MULTI, the commands and EXEC go out together; only EXEC's reply carries the results.
    const queued = [client.call('MULTI'), ...this.#commands.map((c) => client.call(...c.args))];
    for (const q of queued) q.catch(() => {});
    const results = (await client.call('EXEC')) as RespValue[] | null;
    if (results === null) return null;
    return results.map((r, i): [Error | null, unknown] =>
      r instanceof RespReplyError ? [r, null] : [null, this.#commands[i]!.map(r)],
    );
  }
}

/** A flat HGETALL reply → an object. */
export function pairs(list: string[] | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!list) return out;
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i]!] = list[i + 1]!;
  return out;
}
