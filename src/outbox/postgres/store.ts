/**
 * The hand-over records in PostgreSQL: one row per job in `bullmq.smtpwire_handover`, beside BullMQ's own
 * tables in its schema, keyed by queue name and job id, with the same states and refusal rules as the Redis store
 * (../store.ts). Each operation is one statement, so it is atomic; the pool runs with
 * `synchronous_commit = on`, so a claim's reply means its row is in the write-ahead log on disk (with the
 * server's `fsync` on) before the final dot may leave.
 *
 * `listClaims` is the rows in `handing-over`, `listUnknown` those in `unknown`: no separate sets to keep in step.
 * A settled row (delivered, not delivered) expires RECORD_RETENTION_MS after its outcome, like the Redis key:
 * it reads as absent from then on, and every PURGE_EVERY records as many expired rows are deleted.
 */
import { type HandOverRecord, type HandOverState, type HandOverStorage, RECORD_RETENTION_MS } from '../store.js';

/** The part of a node-postgres `Pool` this store uses. */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
}

/** The table's name in BullMQ's schema. */
export const HANDOVER_TABLE = 'smtpwire_handover';

/** A row that is there and not expired (`$now` is the statement's parameter holding the time in ms). */
const LIVE = (now: string): string => `(h.expires_at IS NULL OR h.expires_at > ${now})`;

function createSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (
  queue text NOT NULL,
  job_id text NOT NULL,
  state text NOT NULL CHECK (state IN ('handing-over', 'delivered', 'not-delivered', 'unknown')),
  token text,
  message_id text,
  attempt integer,
  at bigint NOT NULL,
  result jsonb,
  expires_at bigint,
  PRIMARY KEY (queue, job_id));
CREATE INDEX IF NOT EXISTS ${HANDOVER_TABLE}_open ON ${table} (queue, state, at)
  WHERE state IN ('handing-over', 'unknown');
CREATE INDEX IF NOT EXISTS ${HANDOVER_TABLE}_expires ON ${table} (expires_at) WHERE expires_at IS NOT NULL`;
}

/** Every this many records, up to as many expired rows are deleted (the table stays the size of its retention). */
const PURGE_EVERY = 1000;

/** Hand-over records of one queue, in PostgreSQL. */
export class PgHandOverStore implements HandOverStorage {
  readonly #db: PgQueryable;
  readonly #table: string;
  readonly #queue: string;
  #records = 0;

  /** The table's `CREATE TABLE IF NOT EXISTS` (connection.ts runs it once per pool, under BullMQ's migration lock). */
  static createSql = createSql;

  /** @param table the schema-qualified, quoted table name (`"bullmq".smtpwire_handover`) */
  constructor(db: PgQueryable, table: string, queue: string) {
    this.#db = db;
    this.#table = table;
    this.#queue = queue;
  }

  async #query(text: string, values: unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number }> {
    const r = await this.#db.query(text, [this.#queue, ...values]);
    return { rows: r.rows, rowCount: r.rowCount ?? 0 };
  }

  async read(jobId: string): Promise<HandOverRecord> {
    const { rows } = await this.#query(
      `SELECT state, token, message_id, attempt, at, result FROM ${this.#table} h
       WHERE queue = $1 AND job_id = $2 AND ${LIVE('$3')}`,
      [jobId, Date.now()],
    );
    const row = rows[0];
    if (!row)
      return { state: null, token: null, messageId: null, attempt: null, at: null, result: null } as HandOverRecord;
    return {
      state: row.state as HandOverState,
      token: (row.token as string | null) ?? null,
      messageId: (row.message_id as string | null) ?? null,
      attempt: row.attempt === null ? null : Number(row.attempt),
      at: row.at === null ? null : Number(row.at),
      result: (row.result as Record<string, unknown> | null) ?? null,
    };
  }

  /** The row is written (or taken over) only where the Redis CLAIM script would: see HandOverStorage.claim. */
  async claim(jobId: string, token: string, messageId: string | null, attempt: number): Promise<boolean> {
    const { rowCount } = await this.#query(
      `INSERT INTO ${this.#table} AS h (queue, job_id, state, token, message_id, attempt, at, result, expires_at)
       VALUES ($1, $2, 'handing-over', $3, $4, $5, $6, NULL, NULL)
       ON CONFLICT (queue, job_id) DO UPDATE
         SET state = 'handing-over', token = EXCLUDED.token, message_id = EXCLUDED.message_id,
             attempt = EXCLUDED.attempt, at = EXCLUDED.at, result = NULL, expires_at = NULL
         WHERE NOT ${LIVE('$6')}
            OR h.state = 'not-delivered'
            OR (h.state = 'handing-over' AND h.token = EXCLUDED.token)`,
      [jobId, token, messageId, attempt, Date.now()],
    );
    return rowCount === 1;
  }

  /**
   * A late 'delivered' overwrites 'unknown' (the truth resolves it); nothing else overwrites 'unknown' or
   * 'delivered', and nothing overwrites another run's claim in progress.
   */
  async record(
    jobId: string,
    token: string,
    state: Exclude<HandOverState, 'handing-over'>,
    result: Record<string, unknown>,
  ): Promise<boolean> {
    const now = Date.now();
    const messageId = typeof result.message_id === 'string' && result.message_id !== '' ? result.message_id : null;
    const { rowCount } = await this.#query(
      `INSERT INTO ${this.#table} AS h (queue, job_id, state, token, message_id, attempt, at, result, expires_at)
       VALUES ($1, $2, $3, $4, $5, NULL, $6, $7::jsonb, $8)
       ON CONFLICT (queue, job_id) DO UPDATE
         SET state = EXCLUDED.state, token = EXCLUDED.token, message_id = EXCLUDED.message_id,
             at = EXCLUDED.at, result = EXCLUDED.result, expires_at = EXCLUDED.expires_at
         WHERE NOT ${LIVE('$6')}
            OR (NOT (h.state = 'handing-over' AND h.token IS DISTINCT FROM EXCLUDED.token)
                AND NOT (h.state IN ('unknown', 'delivered') AND EXCLUDED.state <> 'delivered'))`,
      [
        jobId,
        state,
        token,
        messageId,
        now,
        JSON.stringify(result),
        state === 'unknown' ? null : now + RECORD_RETENTION_MS,
      ],
    );
    if (++this.#records % PURGE_EVERY === 0) await this.#purge(PURGE_EVERY).catch(() => {});
    return rowCount === 1;
  }

  /** Deletes up to `limit` expired rows of any queue. */
  async #purge(limit: number): Promise<void> {
    await this.#db.query(
      `DELETE FROM ${this.#table} WHERE ctid IN
         (SELECT ctid FROM ${this.#table} WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)`,
      [Date.now(), limit],
    );
  }

  async abandoned(jobId: string, claimToken: string, result: Record<string, unknown>): Promise<boolean> {
    const { rowCount } = await this.#query(
      `UPDATE ${this.#table} h SET state = 'unknown', result = $4::jsonb, at = $5, expires_at = NULL
       WHERE queue = $1 AND job_id = $2 AND state = 'handing-over' AND token = $3`,
      [jobId, claimToken, JSON.stringify(result), Date.now()],
    );
    return rowCount === 1;
  }

  async forget(jobId: string): Promise<boolean> {
    const now = Date.now();
    const { rowCount } = await this.#query(
      `DELETE FROM ${this.#table} h WHERE queue = $1 AND job_id = $2 AND (state = 'unknown' OR NOT ${LIVE('$3')})`,
      [jobId, now],
    );
    if (rowCount === 1) return true;
    // Nothing deleted: true only when there is no record at all (as the Redis script answers).
    return (await this.read(jobId)).state === null;
  }

  listUnknown(): Promise<{ jobId: string; since: Date }[]> {
    return this.#list('unknown');
  }

  listClaims(): Promise<{ jobId: string; since: Date }[]> {
    return this.#list('handing-over');
  }

  /** `state` is written into the statement (one of two constants), so the partial index `…_open` serves it. */
  async #list(state: 'handing-over' | 'unknown'): Promise<{ jobId: string; since: Date }[]> {
    const { rows } = await this.#query(
      `SELECT job_id, at FROM ${this.#table} WHERE queue = $1 AND state = '${state}' ORDER BY at, job_id`,
      [],
    );
    return rows.map((r) => ({ jobId: String(r.job_id), since: new Date(Number(r.at)) }));
  }
}
