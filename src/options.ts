/**
 * The owner of option rules: strict keys with a did-you-mean and the value checks, for the options
 * objects smtpwire takes (handler, pool, connection, probe, conform, sendMessage, sendRaw, outbox,
 * compat, the CLI's flags once parsed). The key lists are in `option-keys.ts`.
 *
 * An option that is silently ignored is worse than one that throws: `auth: { user, pass }` accepted and
 * sent without credentials is how mail ends up unauthenticated. So every options object is checked
 * against its list of known keys, and the error names the nearest known key.
 */
import { isIP } from 'node:net';
import { defaultPort, isEncryption, isProtocol, type SmtpEncryption, type SmtpProtocol } from './enums.js';
import { assertNoLineBreaks, InvalidArgumentError } from './errors.js';
import {
  CONFORM_OPTION_KEYS,
  CONNECTION_OPTION_KEYS,
  HANDLER_OPTION_KEYS,
  NODEMAILER_HINTS,
  POOL_OPTION_KEYS,
  POOL_PARAM_KEYS,
  PROBE_CHECKS_KEYS,
  PROBE_OPTION_KEYS,
} from './option-keys.js';
import { AUTH_METHODS } from './protocol/auth.js';
import { ehlo } from './protocol/commands.js';

/** Levenshtein distance, bounded: returns `max + 1` as soon as the distance must exceed `max`. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      current.push(value);
      if (value < rowMin) rowMin = value;
    }
    if (rowMin > max) return max + 1;
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The known key nearest to `key`: the same letters in another case first, then the smallest edit
 * distance (at most 2, or 3 for long keys). Null when nothing is close.
 */
export function nearestKey(key: string, known: readonly string[]): string | null {
  const lower = key.toLowerCase();
  for (const k of known) if (k.toLowerCase() === lower) return k;
  const max = key.length > 8 ? 3 : 2;
  let best: string | null = null;
  let bestDistance = max + 1;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase(), max);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Why `key` is not an option of `where`, or null when it is one. `hints` maps a spelling from another
 * library (e.g. nodemailer's `auth`) to what to write instead.
 */
export function unknownKeyMessage(
  key: string,
  known: readonly string[],
  where: string,
  hints: Readonly<Record<string, string>> = {},
): string | null {
  if (known.includes(key)) return null;
  const hint = Object.hasOwn(hints, key) ? hints[key] : undefined;
  if (hint !== undefined) return `unknown option '${key}' in ${where}: ${hint}`;
  const near = nearestKey(key, known);
  return `unknown option '${key}' in ${where}${near ? ` — did you mean '${near}'?` : ''}`;
}

/** The first unknown key of `value` explained, or null when every key is known (undefined values count too). */
export function findUnknownKey(
  value: object,
  known: readonly string[],
  where: string,
  hints?: Readonly<Record<string, string>>,
): { key: string; message: string } | null {
  for (const key of Object.keys(value)) {
    const message = unknownKeyMessage(key, known, where, hints);
    if (message !== null) return { key, message };
  }
  return null;
}

/**
 * Throws for the first key of `value` that is not in `known`.
 * @throws InvalidArgumentError naming the key (as `field`) and the nearest known key.
 */
export function assertKnownKeys(
  value: object,
  known: readonly string[],
  where: string,
  hints?: Readonly<Record<string, string>>,
): void {
  const unknown = findUnknownKey(value, known, where, hints);
  if (unknown) throw new InvalidArgumentError(unknown.message, { field: unknown.key });
}

/**
 * `assertKnownKeys` for a nested options object named by its path (`timeouts`, `pool.rateLimit`):
 * the message and the error's `field` name the full path, e.g. `timeouts.comand`.
 * @throws InvalidArgumentError
 */
export function assertKnownNestedKeys(
  value: object,
  known: readonly string[],
  path: string,
  hints: Readonly<Record<string, string>> = {},
): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const hint = Object.hasOwn(hints, key) ? hints[key] : undefined;
    const near = hint === undefined ? nearestKey(key, known) : null;
    const why = hint !== undefined ? `: ${hint}` : near ? ` — did you mean '${path}.${near}'?` : '';
    throw new InvalidArgumentError(`unknown option '${path}.${key}'${why}`, { field: `${path}.${key}` });
  }
}

// ── value checks ────────────────────────────────────────────────────────────────────────────
// One rule per value, used by every constructor that takes it (handler, pool params, SmtpConnection,
// probe), so `port: 0` or `clientName: 'a\r\nMAIL'` fails the same way wherever it is given.

/** RFC 8314 §3.3: ports where the server expects a TLS ClientHello first, not a greeting. */
export const IMPLICIT_TLS_PORTS: ReadonlySet<number> = new Set([465]);

/** Throws unless `value` is a plain object (not null, not an array). */
export function assertObject(value: unknown, field: string): asserts value is object {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(`${field} must be an object`, { field });
  }
}

/** A host name or address: non-empty, no white space, line break, NUL or angle bracket. */
export function checkHost(value: unknown, field = 'host'): string {
  // CR, LF or NUL: the one injection code, whatever the field.
  if (typeof value === 'string') assertNoLineBreaks(value, field);
  if (typeof value !== 'string' || value === '' || /[\s\0<>]/.test(value)) {
    throw new InvalidArgumentError(`${field} must be a non-empty host name or address, not ${describe(value)}`, {
      field,
    });
  }
  return value;
}

/** `'none' | 'tls' | 'ssl'`, default `'tls'` (STARTTLS, required). */
export function checkEncryption(value: unknown, field = 'encryption'): SmtpEncryption {
  if (value === undefined) return 'tls';
  if (!isEncryption(value)) {
    const hint = value === 'starttls' ? ` ('tls' is STARTTLS)` : value === true ? ` (secure: true is 'ssl')` : '';
    throw new InvalidArgumentError(`${field} must be 'none', 'tls' or 'ssl', not ${describe(value)}${hint}`, {
      field,
    });
  }
  return value;
}

/** A TCP port, 1–65535; default from the encryption (25, 587, 465). */
export function checkPort(
  value: unknown,
  encryption: SmtpEncryption,
  field = 'port',
  protocol: SmtpProtocol | undefined = undefined,
): number {
  if (value === undefined) return defaultPort(encryption, protocol);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new InvalidArgumentError(`${field} must be an integer from 1 to 65535, not ${describe(value)}`, { field });
  }
  return value;
}

/** `'smtp'` (default) or `'lmtp'` (RFC 2033). */
export function checkProtocol(value: unknown, field = 'protocol'): SmtpProtocol {
  if (value === undefined) return 'smtp';
  if (!isProtocol(value))
    throw new InvalidArgumentError(`${field} must be 'smtp' or 'lmtp', not ${describe(value)}`, { field });
  return value;
}

/** Host, encryption, protocol and port together: the one place their defaults are filled in. */
export function resolveEndpoint(
  options: { host?: unknown; port?: unknown; encryption?: unknown; protocol?: unknown },
  hostField = 'host',
) {
  const host = checkHost(options.host, hostField);
  const encryption = checkEncryption(options.encryption);
  const protocol = checkProtocol(options.protocol);
  const port = checkPort(options.port, encryption, 'port', protocol);
  return { host, port, encryption, protocol };
}

/** The EHLO name: the `ehlo` command builder owns what a valid one is (no CR/LF, no space). */
export function checkClientName(value: unknown, field = 'clientName'): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidArgumentError(`${field} must be a string`, { field });
  ehlo(value);
  return value;
}

/** The source address to connect from: undefined, or an IPv4/IPv6 address (`net.connect`'s `localAddress`). */
export function checkLocalAddress(value: unknown, field = 'localAddress'): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || isIP(value) === 0)
    throw new InvalidArgumentError(`${field} must be an IP address, not ${describe(value)}`, { field });
  return value;
}

/** Throws unless every listed key of `options` is undefined or a boolean. */
export function checkBooleans(options: object, keys: readonly string[], prefix = ''): void {
  for (const key of keys) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined && typeof value !== 'boolean') {
      throw new InvalidArgumentError(`${prefix}${key} must be a boolean, not ${describe(value)}`, {
        field: `${prefix}${key}`,
      });
    }
  }
}

/** Throws unless `value` is undefined or a function. */
export function checkFunction(value: unknown, field: string): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new InvalidArgumentError(`${field} must be a function`, { field });
  }
}

/** Username, password, access token: strings without CR/LF/NUL; a secret needs a username. */
export function checkCredentials(options: {
  username?: unknown;
  password?: unknown;
  accessToken?: unknown;
  authMethod?: unknown;
}): void {
  const { username, password, accessToken, authMethod } = options;
  if (username !== undefined && typeof username !== 'string') {
    throw new InvalidArgumentError('username must be a string', { field: 'username' });
  }
  if (typeof username === 'string') assertNoLineBreaks(username, 'username');
  if ((password !== undefined || accessToken !== undefined) && username === undefined) {
    throw new InvalidArgumentError('a password or accessToken needs a username', { field: 'username' });
  }
  // The value is never shown: it may be a secret.
  if (password !== undefined && typeof password !== 'string')
    throw new InvalidArgumentError('password must be a string', { field: 'password' });
  if (accessToken !== undefined && typeof accessToken !== 'string' && typeof accessToken !== 'function') {
    throw new InvalidArgumentError('accessToken must be a string or a function', { field: 'accessToken' });
  }
  if (authMethod !== undefined && !(AUTH_METHODS as readonly unknown[]).includes(authMethod)) {
    throw new InvalidArgumentError(
      `authMethod must be one of ${AUTH_METHODS.join(', ')}, not ${describe(authMethod)}`,
      {
        field: 'authMethod',
      },
    );
  }
}

/** A positive safe integer, or `fallback` when undefined. */
export function positiveInteger(value: unknown, fallback: number | undefined, field: string): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${field} must be a positive integer, not ${describe(value)}`, { field });
  }
  return value;
}

/** A safe integer ≥ 0, or `fallback` when undefined. */
export function nonNegativeInteger(value: unknown, fallback: number | undefined, field: string): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${field} must be an integer ≥ 0, not ${describe(value)}`, { field });
  }
  return value;
}

/** A rate as `{ max, duration }` (BullMQ's limiter: at most `max` jobs per `duration` ms), both positive integers. */
export function checkLimiter(value: unknown, field = 'limiter'): { max: number; duration: number } | undefined {
  if (value === undefined) return undefined;
  assertObject(value, field);
  assertKnownNestedKeys(value, ['max', 'duration'], field);
  const { max, duration: ms } = value as { max?: unknown; duration?: unknown };
  return {
    max: positiveInteger(max, undefined, `${field}.max`),
    duration: positiveInteger(ms, undefined, `${field}.duration`),
  };
}

/** The longest delay `setTimeout` honours (2^31 − 1 ms, about 24.8 days). */
export const MAX_TIMER = 2 ** 31 - 1;

/**
 * A duration in ms: finite, within a timer's range, positive (or 0 when `zeroOk`); Infinity (never)
 * when `infinityOk`; `fallback` when undefined.
 */
export function duration(
  value: unknown,
  fallback: number,
  field: string,
  { zeroOk = false, infinityOk = true }: { zeroOk?: boolean; infinityOk?: boolean } = {},
): number {
  if (value === undefined) return fallback;
  if (value === Infinity && infinityOk) return Infinity;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    (!zeroOk && value === 0) ||
    value > MAX_TIMER
  ) {
    const what = zeroOk ? 'non-negative' : 'positive';
    throw new InvalidArgumentError(
      `${field} must be a ${what} number of ms${infinityOk ? ' (or Infinity)' : ''}, not ${describe(value)}`,
      { field },
    );
  }
  return value;
}

/** A value for an error message; strings quoted, long ones cut. */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'an object';
  return String(value);
}

// ── timeouts ────────────────────────────────────────────────────────────────────────────────

/** Timeouts in ms, one per phase. */
export interface Timeouts {
  /** TCP connect. */
  connect: number;
  /** The 220 greeting after connecting. Default 30 s (a submission client); RFC 5321 §4.5.3.2.1 says 5 min. */
  greeting: number;
  /** A TLS handshake, implicit or after STARTTLS. */
  tls: number;
  /** The reply to any command (RFC 5321 §4.5.3.2.2–.4: 5 min for MAIL and RCPT). */
  command: number;
  /** No progress while sending the body: the socket stays full or the source gives nothing (§4.5.3.2.6: 3 min). */
  dataIdle: number;
  /** The reply after the final dot or `BDAT LAST` (RFC 5321 §4.5.3.2.6: 10 min). */
  finalReply: number;
}

/**
 * The defaults, fit for a submission client (the common case: an application talking to its relay).
 * The greeting gets 30 s as in nodemailer, not RFC 5321's 5 min: a submission server greets at once,
 * and 5 min of silence is nearly always a wrong port or a TLS mix-up (465 spoken to in plaintext).
 * The command and data timeouts keep the RFC's values: a slow reply after MAIL or the final dot is a
 * busy server (content filters), and giving up early there risks an unknown outcome.
 */
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  connect: 30_000,
  greeting: 30_000,
  tls: 30_000,
  command: 5 * 60_000, // RFC 5321 §4.5.3.2.2
  dataIdle: 3 * 60_000, // RFC 5321 §4.5.3.2.5
  finalReply: 10 * 60_000, // RFC 5321 §4.5.3.2.6
});

/**
 * RFC 5321 §4.5.3.2's minimums, for MTA-to-MTA relaying (a loaded MX may delay its greeting on
 * purpose): `timeouts: RFC5321_TIMEOUTS`.
 */
export const RFC5321_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  ...DEFAULT_TIMEOUTS,
  greeting: 5 * 60_000, // RFC 5321 §4.5.3.2.1
});

const TIMEOUT_KEYS = Object.keys(DEFAULT_TIMEOUTS);
const TIMEOUT_HINTS: Readonly<Record<string, string>> = {
  socket: "write 'command' (the wait for any reply) or 'dataIdle'",
  greetingTimeout: "write 'greeting' (the timeouts object takes phase names)",
  connectionTimeout: "write 'connect'",
  socketTimeout: "write 'command'",
};

/** Fills in defaults and checks every timeout. @throws InvalidArgumentError naming `timeouts.<phase>`. */
export function resolveTimeouts(partial: Partial<Timeouts> | undefined, field = 'timeouts'): Timeouts {
  if (partial === undefined) return { ...DEFAULT_TIMEOUTS };
  assertObject(partial, field);
  assertKnownNestedKeys(partial, TIMEOUT_KEYS, field, TIMEOUT_HINTS);
  const out = { ...DEFAULT_TIMEOUTS };
  for (const key of TIMEOUT_KEYS as (keyof Timeouts)[]) {
    out[key] = duration(partial[key], DEFAULT_TIMEOUTS[key], `${field}.${key}`, { infinityOk: false });
  }
  return out;
}

// ── known keys ──────────────────────────────────────────────────────────────────────────────
// The lists live in option-keys.ts (pure data, each tied to its interface at compile time by
// test/unit/option-keys.test.ts); the checks that use them are here.

function hintsFor(known: readonly string[], overrides: Readonly<Record<string, string>> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, hint] of Object.entries({ ...NODEMAILER_HINTS, ...overrides })) {
    if (hint !== '' && !known.includes(key)) out[key] = hint;
  }
  return out;
}

const HANDLER_HINTS = hintsFor(HANDLER_OPTION_KEYS);
const CONNECTION_HINTS = hintsFor(CONNECTION_OPTION_KEYS, {
  auth: 'credentials go to conn.login({ username, password })',
  user: 'credentials go to conn.login({ username, password })',
  pass: 'credentials go to conn.login({ username, password })',
  maxConnections: 'one SmtpConnection is one connection: use SmtpConnectionPool or SmtpProtocolHandler for more',
  maxMessages: 'one SmtpConnection is one connection: use SmtpConnectionPool({ maxMessagesPerConnection })',
  from: 'the sender goes to sendMail(envelope, body)',
});
const PARAM_HINTS = hintsFor(POOL_PARAM_KEYS, {
  maxConnections: 'pool size is a pool option: new SmtpConnectionPool({ maxConnections })',
  maxMessages: 'write new SmtpConnectionPool({ maxMessagesPerConnection })',
  name: 'write connection: { clientName }',
});
const POOL_HINTS: Readonly<Record<string, string>> = {
  maxMessages: "write 'maxMessagesPerConnection'",
  idle: "write 'idleTimeout' (ms)",
  maxIdle: "write 'idleTimeout' (ms)",
  rateDelta: 'write rateLimit: { messages, interval }',
};
const PROBE_HINTS = hintsFor(PROBE_OPTION_KEYS, { host: '' });

/** The handler's `pool` option: pool settings, with the pool size at the top level. */
const HANDLER_POOL_KEYS = POOL_OPTION_KEYS.filter((k) => k !== 'maxConnections');

/** Key checks of `new SmtpProtocolHandler(options)`, nested objects included. @throws InvalidArgumentError */
export function checkHandlerKeys(options: object): void {
  assertKnownKeys(options, HANDLER_OPTION_KEYS, 'SmtpProtocolHandler options', HANDLER_HINTS);
  const pool = (options as { pool?: unknown }).pool;
  if (pool !== undefined) {
    if (typeof pool === 'boolean') {
      throw new InvalidArgumentError(
        'pool takes pool settings ({ idleTimeout, maxMessagesPerConnection, … }), not a boolean: every handler is pooled (poolSize: 1 for a single connection)',
        { field: 'pool' },
      );
    }
    assertObject(pool, 'pool');
    assertKnownNestedKeys(pool, HANDLER_POOL_KEYS, 'pool', {
      ...definedHints(POOL_HINTS),
      maxConnections: "write 'poolSize' at the top level",
    });
  }
}

/** Key checks of `new SmtpConnectionPool(options)`. */
export function checkPoolKeys(options: object): void {
  assertKnownKeys(options, POOL_OPTION_KEYS, 'SmtpConnectionPool options', definedHints(POOL_HINTS));
}

/** Key checks of `pool.getConnection(params)`, its `connection` object included. */
export function checkPoolParamKeys(params: object): void {
  assertKnownKeys(params, POOL_PARAM_KEYS, 'getConnection params', PARAM_HINTS);
  const connection = (params as { connection?: unknown }).connection;
  if (connection !== undefined) {
    assertObject(connection, 'connection');
    assertKnownNestedKeys(
      connection,
      CONNECTION_OPTION_KEYS.filter((k) => k !== 'host' && k !== 'port' && k !== 'encryption'),
      'connection',
      {
        host: 'host, port and encryption go in the params themselves',
        port: 'write params.port',
        encryption: 'write params.encryption',
      },
    );
  }
}

/** Key checks of `new SmtpConnection(options)`. */
export function checkConnectionKeys(options: object): void {
  assertKnownKeys(options, CONNECTION_OPTION_KEYS, 'SmtpConnection options', CONNECTION_HINTS);
}

/** Key checks of `probe(options)`. */
export function checkProbeKeys(options: object): void {
  assertKnownKeys(options, PROBE_OPTION_KEYS, 'probe options', PROBE_HINTS);
  const checks = (options as { checks?: unknown }).checks;
  if (checks !== undefined) {
    assertObject(checks, 'probe options.checks');
    assertKnownKeys(checks, PROBE_CHECKS_KEYS, 'probe options.checks');
  }
}

function definedHints(hints: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(hints).filter(([, v]) => v !== ''));
}

/** Key checks of `conform(options)`. */
export function checkConformKeys(options: object): void {
  assertKnownKeys(options, CONFORM_OPTION_KEYS, 'conform options', PROBE_HINTS);
}

export * from './option-keys.js';
