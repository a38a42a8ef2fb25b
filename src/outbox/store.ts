/**
 * The hand-over records: one Redis hash per job, written just before the final dot and again with the
 * outcome, so a job run again after a crash knows whether its message may already be at the server.
 *
 * `<prefix>:<queue>:smtpwire:handover:<jobId>` = { state, token, messageId, attempt, at, result? }
 * `<prefix>:<queue>:smtpwire:unknown`          = sorted set of job ids whose outcome is unknown (score: ms)
 * `<prefix>:<queue>:smtpwire:claims`           = sorted set of job ids with a claim and no outcome yet (score: ms),
 *   so that a claim BullMQ ended without the worker (stalled too often, removed) is still found.
 *
 * States: `handing-over` (the dot may be on its way; no outcome recorded), `delivered` (the server
 * accepted it), `not-delivered` (refused or failed before the hand-over), `unknown` (reported UNKNOWN).
 * The keys share the queue's `{hash tag}` when the queue name has one, so they live on the queue's
 * Redis Cluster slot and the scripts below stay single-slot.
 */

/** The part of BullMQ's `IRedisClient` this store uses (any BullMQ driver provides it). */
export interface StoreClient {
  defineCommand(name: string, definition: { numberOfKeys: number; lua: string }): void;
  runCommand(name: string, args: unknown[]): Promise<unknown>;
  hgetall(key: string): Promise<Record<string, string>>;
  zrange(key: string, start: number, end: number, options?: { WITHSCORES?: boolean }): Promise<string[]>;
}

export type HandOverState = 'handing-over' | 'delivered' | 'not-delivered' | 'unknown';

export interface HandOverRecord {
  state: HandOverState | null;
  token: string | null;
  messageId: string | null;
  attempt: number | null;
  at: number | null;
  /** The DeliveryResult JSON of the recorded outcome. */
  result: Record<string, unknown> | null;
}

/**
 * Claims the hand-over for run `token`: refused (0) while another run is handing the same job over, once
 * it was delivered, or while it is reported UNKNOWN. With appendfsync always, the reply means the claim is
 * on disk.
 */
const CLAIM = `
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'delivered' or state == 'unknown' then return 0 end
if state == 'handing-over' and redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'handing-over', 'token', ARGV[1], 'messageId', ARGV[2], 'attempt', ARGV[3], 'at', ARGV[4])
redis.call('HDEL', KEYS[1], 'result')
redis.call('PERSIST', KEYS[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
return 1`;

/**
 * How long a settled record (delivered, not delivered) is kept: the window in which a stalled re-run of the job
 * still finds it. Records of claims in progress and of UNKNOWN jobs never expire: an operator resolves those.
 */
export const RECORD_RETENTION_MS = 7 * 24 * 3600_000;

/**
 * Records an outcome for run `token`, unless another run is handing the job over right now (0). A late
 * 'delivered' from a run that was presumed dead overwrites 'unknown': the truth resolves the unknown. Nothing
 * else does: a late 'not-delivered' must not take a job off the operator's UNKNOWN list (0). 'delivered' is
 * final (only an operator's forget clears it): a stale run's failure recorded over it would let a later run
 * claim the job again and send a duplicate (0).
 */
const RECORD = `
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'handing-over' and redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
if (state == 'unknown' or state == 'delivered') and ARGV[2] ~= 'delivered' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'token', ARGV[1], 'result', ARGV[3], 'at', ARGV[4], 'messageId', ARGV[6])
if ARGV[2] == 'unknown' then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5]) else redis.call('ZREM', KEYS[2], ARGV[5]) end
if ARGV[2] == 'unknown' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[7]) end
redis.call('ZREM', KEYS[3], ARGV[5])
return 1`;

/**
 * Declares UNKNOWN a hand-over that run `ARGV[1]` claimed and never finished (it died or lost its lock),
 * only if that claim is still the current one (compare-and-set on the token).
 */
const ABANDONED = `
if redis.call('HGET', KEYS[1], 'state') ~= 'handing-over' or redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'unknown', 'result', ARGV[2], 'at', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('PERSIST', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[4])
return 1`;

/**
 * Forgets a job's UNKNOWN record (an operator's decision), or nothing when there is none. Refused (0) in any
 * other state: forgetting a claim in progress would let a re-run send the message a second time, and forgetting
 * a delivery would let a later claim send it again.
 */
const FORGET = `
local state = redis.call('HGET', KEYS[1], 'state')
if state and state ~= 'unknown' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1`;

const SCRIPTS = { claim: CLAIM, record: RECORD, abandoned: ABANDONED, forget: FORGET } as const;
const COMMAND = (name: keyof typeof SCRIPTS): string => `smtpwire-outbox-${name}:1`;

/** Hand-over records of one queue. */
export class HandOverStore {
  readonly #client: StoreClient;
  readonly #base: string;

  /** @param base the queue's key for `smtpwire` (BullMQ's `queue.toKey('smtpwire')`). */
  constructor(client: StoreClient, base: string) {
    this.#client = client;
    this.#base = base;
    for (const [name, lua] of Object.entries(SCRIPTS))
      client.defineCommand(COMMAND(name as keyof typeof SCRIPTS), { numberOfKeys: 3, lua });
  }

  #key(jobId: string): string {
    return `${this.#base}:handover:${jobId}`;
  }

  /** The key of a job's record (its slot is the queue's, on a Cluster). */
  recordKey(jobId: string): string {
    return this.#key(jobId);
  }

  get unknownKey(): string {
    return `${this.#base}:unknown`;
  }

  get claimsKey(): string {
    return `${this.#base}:claims`;
  }

  #keys(jobId: string): string[] {
    return [this.#key(jobId), this.unknownKey, this.claimsKey];
  }

  async read(jobId: string): Promise<HandOverRecord> {
    const h = await this.#client.hgetall(this.#key(jobId));
    const num = (v: string | undefined): number | null => (v === undefined ? null : Number(v));
    return {
      state: (h.state as HandOverState | undefined) ?? null,
      token: h.token ?? null,
      messageId: h.messageId ?? null,
      attempt: num(h.attempt),
      at: num(h.at),
      result: h.result ? (JSON.parse(h.result) as Record<string, unknown>) : null,
    };
  }

  /** True when this run may write the final dot. */
  async claim(jobId: string, token: string, messageId: string | null, attempt: number): Promise<boolean> {
    const ok = await this.#client.runCommand(COMMAND('claim'), [
      ...this.#keys(jobId),
      token,
      messageId ?? '',
      attempt,
      Date.now(),
      jobId,
    ]);
    return ok === 1;
  }

  /** False when another run owns the hand-over at this moment. */
  async record(
    jobId: string,
    token: string,
    state: Exclude<HandOverState, 'handing-over'>,
    result: Record<string, unknown>,
  ): Promise<boolean> {
    const ok = await this.#client.runCommand(COMMAND('record'), [
      ...this.#keys(jobId),
      token,
      state,
      JSON.stringify(result),
      Date.now(),
      jobId,
      typeof result.message_id === 'string' ? result.message_id : '',
      RECORD_RETENTION_MS,
    ]);
    return ok === 1;
  }

  /** Marks UNKNOWN the claim of run `claimToken` if it is still unfinished; false when it changed meanwhile. */
  async abandoned(jobId: string, claimToken: string, result: Record<string, unknown>): Promise<boolean> {
    const ok = await this.#client.runCommand(COMMAND('abandoned'), [
      ...this.#keys(jobId),
      claimToken,
      JSON.stringify(result),
      Date.now(),
      jobId,
    ]);
    return ok === 1;
  }

  /** False (nothing changed) when the job's record is not UNKNOWN: a claim in progress or a settled outcome. */
  async forget(jobId: string): Promise<boolean> {
    return (await this.#client.runCommand(COMMAND('forget'), [...this.#keys(jobId), jobId])) === 1;
  }

  /** Job ids reported UNKNOWN and not resolved, oldest first, with when. */
  listUnknown(): Promise<{ jobId: string; since: Date }[]> {
    return this.#list(this.unknownKey);
  }

  /** Job ids with a claim and no recorded outcome (in flight, or their run died), oldest first. */
  listClaims(): Promise<{ jobId: string; since: Date }[]> {
    return this.#list(this.claimsKey);
  }

  async #list(key: string): Promise<{ jobId: string; since: Date }[]> {
    const flat = await this.#client.zrange(key, 0, -1, { WITHSCORES: true });
    const out: { jobId: string; since: Date }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ jobId: flat[i]!, since: new Date(Number(flat[i + 1])) });
    return out;
  }
}
