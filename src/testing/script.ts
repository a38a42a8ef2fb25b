/**
 * The declarative fault script of the scripted SMTP server: which event, which occurrence, and
 * what to do instead of (or around) the correct reply. Pure: types and rule matching only.
 */
import type { SessionRecord } from './records.js';

/**
 * Points in a session where the server is about to answer, and so where a fault can be injected.
 *
 * - `GREETING`: the 220 banner (after the TLS handshake in implicit TLS mode).
 * - A command verb, upper case: `EHLO`, `HELO`, `MAIL`, `RCPT`, `DATA` (the 354), `RSET`, `NOOP`,
 *   `QUIT`, `VRFY`, `STARTTLS`, `AUTH`, or any other verb a client sends (e.g. `XCLIENT`).
 * - `DATA_END`: the final `.CRLF` of a DATA body has been received; the reply says whether the
 *   message was accepted (RFC 5321 §4.1.1.4).
 * - `BDAT`: a BDAT chunk's bytes have all been received (every chunk, LAST included, RFC 3030 §2).
 * - `BDAT_LAST`: the same, for the `BDAT n LAST` chunk only (which is also a `BDAT` event).
 * - `AUTH_RESPONSE`: a client line inside an AUTH exchange (after a 334 challenge, RFC 4954 §4).
 * - `LMTP_RCPT`: with `lmtp`, the reply for one recipient after the data (RFC 2033 §4.2); `match`
 *   sees the recipient address. Each is also the message's `DATA_END` / `BDAT_LAST` event.
 * - `*`: every event above.
 */
export type ScriptEvent =
  | 'GREETING'
  | 'EHLO'
  | 'HELO'
  | 'MAIL'
  | 'RCPT'
  | 'DATA'
  | 'DATA_END'
  | 'BDAT'
  | 'BDAT_LAST'
  | 'RSET'
  | 'NOOP'
  | 'QUIT'
  | 'VRFY'
  | 'STARTTLS'
  | 'AUTH'
  | 'AUTH_RESPONSE'
  | 'LMTP_RCPT'
  | '*'
  // Any other verb; `string & {}` keeps editor completion for the names above.
  | (string & {});

/**
 * What the server does at an event, instead of its normal behaviour.
 *
 * - `reply` (default): send the reply (the scripted one if given, else the correct one).
 * - `silent`: send nothing, now or ever again in this session; the server keeps reading and
 *   recording lines (a hung server).
 * - `drop`: close the connection (FIN, after flushing earlier replies) without replying.
 * - `reset`: abort the connection with a TCP RST without replying (ECONNRESET on the client).
 * - `drop-after-reply`: send the reply, then close the connection.
 */
export type ScriptActionKind = 'reply' | 'silent' | 'drop' | 'reset' | 'drop-after-reply';

/**
 * One fault, applied at the moment the server would answer.
 *
 * The state effect of a command follows the code actually sent: a scripted `550` to RCPT means
 * the recipient is not added, a scripted `250` to a valid RCPT that the server would have
 * accepted anyway changes nothing, a scripted code other than `354` to DATA does not enter DATA
 * mode, STARTTLS upgrades only after a 2xx, and any `421` closes the connection after it is sent
 * (RFC 5321 §3.8). A `raw` reply's code is read from its first three bytes.
 */
export interface ScriptAction {
  /** See {@link ScriptActionKind}; default `'reply'`. */
  action?: ScriptActionKind;
  /**
   * Replace the reply. Each line is sent exactly as given plus CRLF, so multi-line replies are
   * written out (`['250-first', '250 last']`) and malformed ones are possible. A string with
   * `\n` in it is split into lines.
   */
  reply?: string | readonly string[];
  /** Replace the reply with these bytes, verbatim, no CRLF added (garbage, bare LF, no code …). */
  raw?: string | Uint8Array;
  /**
   * Bytes written right after the reply, in the same write. After the STARTTLS 220 they go out
   * in plaintext before the handshake: the RFC 3207 §6 injection a client must discard.
   */
  append?: string | Uint8Array;
  /** Wait this many ms before acting (replies still go out in order). */
  delay?: number;
  /**
   * Write the reply (plus `append`) in pieces: cut at these byte offsets, or `'byte'` for one
   * write per byte. Pieces are separate `write()` calls with Nagle off, `splitDelay` ms apart.
   */
  split?: readonly number[] | 'byte';
  /** Pause between pieces when `split` is set, in ms; default {@link DEFAULT_SPLIT_DELAY}. */
  splitDelay?: number;
}

/**
 * A programmatic hook called at every event before the script. Return an action to apply it
 * (the script is then not consulted), or undefined to fall through to the script.
 * @param session - the live session record.
 * @param line - the received line (`''` for GREETING; the DATA/BDAT command for DATA_END/BDAT).
 * @param event - the {@link ScriptEvent} name.
 */
export type CommandHook = (
  session: SessionRecord,
  line: string,
  event: string,
) => ScriptAction | undefined | Promise<ScriptAction | undefined>;

/** Default pause between the pieces of a split reply: long enough to land in separate reads. */
export const DEFAULT_SPLIT_DELAY = 2;

/**
 * A script rule: when it matches, its {@link ScriptAction} fields apply. Rules are checked in
 * array order; the first match wins.
 *
 * @example
 * ```ts
 * { on: 'RCPT', nth: 2, reply: '550 5.1.1 No such user' }      // second RCPT of each session
 * { on: 'RCPT', match: /<bad@/, reply: '550 5.1.1 No such user' } // every RCPT to bad@…
 * { on: 'DATA_END', action: 'drop' }                            // outcome unknown
 * { on: 'GREETING', reply: '421 4.3.2 Busy', once: true }         // first connection only
 * ```
 */
export interface ScriptRule extends ScriptAction {
  /** The event (or events) this rule applies to. */
  on: ScriptEvent | readonly ScriptEvent[];
  /**
   * Only when the received line matches (the command line without CRLF; for DATA_END/BDAT the
   * DATA or BDAT command line; for GREETING the empty string).
   */
  match?: RegExp | ((line: string) => boolean);
  /**
   * Only the n-th time (1-based) this rule's `on` and `match` are satisfied within one session.
   * Without it, every time.
   */
  nth?: number;
  /** Only in the n-th connection (1-based, as {@link SessionInfo.id}) since start or reset. */
  connection?: number;
  /** Fire at most once in the server's life (until `reset()`): shorthand for `times: 1`. */
  once?: boolean;
  /** Fire at most this many times in the server's life (until `reset()`). */
  times?: number;
}

/** The little a matcher needs to know about a session. */
export interface SessionInfo {
  /** 1-based connection number since the server started or was reset. */
  readonly id: number;
}

/** Per-server bookkeeping for `nth`, `once` and `times`. */
export class RuleCounters {
  // Fired counts across the server's life, and per session "satisfied" counts for nth.
  #fired = new WeakMap<ScriptRule, number>();
  #seen = new WeakMap<ScriptRule, Map<number, number>>();

  /** Forget every count (server reset). */
  clear(): void {
    this.#fired = new WeakMap();
    this.#seen = new WeakMap();
  }

  /**
   * Find the first rule that applies to `event` on `line` in `session`, and count it as fired.
   * @param events - the names of this event (e.g. `['BDAT_LAST', 'BDAT']` for a last chunk).
   */
  select(
    rules: readonly ScriptRule[],
    events: readonly string[],
    line: string,
    session: SessionInfo,
  ): ScriptRule | undefined {
    for (const rule of rules) {
      if (!events.some((event) => ruleCovers(rule, event))) continue;
      if (rule.connection !== undefined && rule.connection !== session.id) continue;
      if (rule.match !== undefined) {
        const ok = typeof rule.match === 'function' ? rule.match(line) : matchRegExp(rule.match, line);
        if (!ok) continue;
      }
      // Occurrence counting happens before the limits so that nth means "n-th such command".
      let perSession = this.#seen.get(rule);
      if (perSession === undefined) {
        perSession = new Map();
        this.#seen.set(rule, perSession);
      }
      const occurrence = (perSession.get(session.id) ?? 0) + 1;
      perSession.set(session.id, occurrence);
      if (rule.nth !== undefined && rule.nth !== occurrence) continue;
      const limit = rule.times ?? (rule.once === true ? 1 : Infinity);
      const fired = this.#fired.get(rule) ?? 0;
      if (fired >= limit) continue;
      this.#fired.set(rule, fired + 1);
      return rule;
    }
    return undefined;
  }
}

function ruleCovers(rule: ScriptRule, event: string): boolean {
  const on = rule.on;
  if (typeof on === 'string') return on === '*' || on.toUpperCase() === event;
  return on.some((e) => e === '*' || e.toUpperCase() === event);
}

function matchRegExp(re: RegExp, line: string): boolean {
  // A /g or /y RegExp keeps lastIndex between calls; reset it so a rule matches consistently.
  re.lastIndex = 0;
  return re.test(line);
}
