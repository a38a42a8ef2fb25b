/**
 * `conform()`: tests one SMTP server's conformance and security the way testssl.sh tests TLS.
 * Each check opens its own raw session (`raw-session.ts`, through `transport/connect.ts`), writes
 * exact bytes, and judges the server from its replies; the verdict rules are documented in each
 * check module and in test/conformance/README.md.
 *
 * Bounded: every reply wait has `replyTimeout`, every check `checkTimeout`, the whole run `budget`
 * (checks that cannot start in time are `skipped`). Mail is only ever sent to `rcpt`, the
 * operator's own mailbox; without it those checks are skipped.
 */
import { DEFAULT_PORTS, type SmtpEncryption } from '../enums.js';
import { InvalidArgumentError, TlsError } from '../errors.js';
import { assertKnownKeys } from '../options.js';
import { AUTH_METHODS } from '../protocol/auth.js';
import type { ServerInfo } from '../protocol/extensions.js';
import { formatReply } from '../protocol/reply.js';
import { isLoopback } from '../transport/connect.js';
import { channels } from '../util/channels.js';
import { EXTENSION_CHECKS } from './checks/extensions.js';
import { LIMIT_CHECKS } from './checks/limits.js';
import { PIPELINING_CHECKS } from './checks/pipelining.js';
import { SMUGGLING_CHECKS } from './checks/smuggling.js';
import { STARTTLS_CHECKS } from './checks/starttls.js';
import {
  assertBareArgument,
  type Baseline,
  CheckContext,
  type CheckDef,
  chooseMechanism,
  type Resolved,
} from './context.js';
import { RawSession } from './raw-session.js';
import {
  CONFORM_GROUPS,
  type ConformCheck,
  type ConformOptions,
  type ConformReport,
  type ConformServer,
  type ConformSummary,
} from './types.js';

/** Every check, in report order. */
export const CONFORM_CHECKS: readonly CheckDef[] = Object.freeze(
  [...SMUGGLING_CHECKS, ...LIMIT_CHECKS, ...STARTTLS_CHECKS, ...PIPELINING_CHECKS, ...EXTENSION_CHECKS].sort(
    (a, b) => CONFORM_GROUPS.indexOf(a.group) - CONFORM_GROUPS.indexOf(b.group),
  ),
);

/** What each check is, for listings and documentation (the public view of {@link CONFORM_CHECKS}). */
export interface ConformCheckInfo {
  id: string;
  group: ConformCheck['group'];
  rfc: string;
  /** Sends a message to `rcpt` (skipped without it). */
  sendsMail: boolean;
}

/** Every check's id, group, RFC and whether it sends mail, in report order. */
export const CONFORM_CHECK_LIST: readonly ConformCheckInfo[] = Object.freeze(
  CONFORM_CHECKS.map((c) => Object.freeze({ id: c.id, group: c.group, rfc: c.rfc, sendsMail: c.needs === 'rcpt' })),
);

const KNOWN_OPTIONS: readonly (keyof ConformOptions)[] = [
  'host',
  'port',
  'encryption',
  'tls',
  'clientName',
  'username',
  'password',
  'authMethod',
  'sender',
  'rcpt',
  'relayTest',
  'only',
  'replyTimeout',
  'checkTimeout',
  'budget',
  'unknownCommandLimit',
  'signal',
];

const DEFAULT_SENDER = 'conform@smtpwire.invalid';
const DEFAULT_REPLY_TIMEOUT = 5_000;
const DEFAULT_CHECK_TIMEOUT = 20_000;
const DEFAULT_BUDGET = 180_000;
const DEFAULT_UNKNOWN_COMMAND_LIMIT = 12;

/**
 * Runs the conformance checks against one server and reports each with its evidence. Never
 * throws for what the server does: an unreachable server is a report with `server.error` and
 * every check skipped.
 * @throws InvalidArgumentError for an unknown option key or an unusable value.
 */
export async function conform(options: ConformOptions): Promise<ConformReport> {
  const started = performance.now();
  const o = resolve(options);
  const encryption: SmtpEncryption = options.encryption ?? 'tls';
  const server: ConformServer = {
    host: o.host,
    port: o.port,
    encryption,
    greeting: null,
    capabilitiesBeforeTls: null,
    capabilities: null,
    secure: false,
    unverified: false,
    authenticated: false,
    error: null,
  };
  const selected = CONFORM_CHECKS.filter(
    (c) => !options.only || options.only.includes(c.id) || options.only.includes(c.group),
  );
  let baseline: Baseline | null = null;
  try {
    baseline = await discover(o, options.encryption, server);
  } catch (err) {
    server.error = (err as Error).message;
  }
  const checks: ConformCheck[] = [];
  const budgetEnd = started + (options.budget ?? DEFAULT_BUDGET);
  const checkTimeout = options.checkTimeout ?? DEFAULT_CHECK_TIMEOUT;
  const runLines: string[][] = [];
  for (const def of selected) {
    const t = performance.now();
    const progress = {
      host: o.host,
      port: o.port,
      id: def.id,
      group: def.group,
      index: checks.length,
      total: selected.length,
    };
    if (channels.conformCheck.hasSubscribers) channels.conformCheck.publish({ phase: 'start', ...progress });
    const base = { id: def.id, group: def.group, rfc: def.rfc, evidence: { sent: [], received: [] } };
    const skip = (reason: string): void => {
      checks.push({ ...base, status: 'skipped', reason, durationMs: 0 });
    };
    if (baseline === null) skip(`no session: ${server.error ?? 'unknown error'}`);
    else if (o.signal?.aborted) skip('aborted');
    else if (t >= budgetEnd) skip('the run budget was used up before this check');
    else if (def.needs === 'rcpt' && o.rcpt === null) skip('sends mail: needs --rcpt (a mailbox you own)');
    else {
      const ctx = new CheckContext(o, baseline, Math.min(t + checkTimeout, budgetEnd), runLines);
      const verdict = await runBounded(def, ctx);
      ctx.close();
      // One line per reason: OpenSSL messages carry line breaks.
      const reason = verdict.reason.replace(/\s+/g, ' ').trim();
      checks.push({
        ...base,
        status: verdict.status,
        reason,
        evidence: ctx.evidence,
        durationMs: Math.round(performance.now() - t),
      });
    }
    if (channels.conformCheck.hasSubscribers) {
      const { status, durationMs } = checks[checks.length - 1]!;
      channels.conformCheck.publish({ phase: 'end', ...progress, status, durationMs });
    }
  }
  const summary = summarize(checks, performance.now() - started);
  // A server that could not be examined fails the run: nothing passed.
  if (baseline === null) summary.status = 'fail';
  return { server, checks, summary };
}

/** Runs one check; a thrown error is an inconclusive warning, the deadline a hard stop. */
async function runBounded(
  def: CheckDef,
  ctx: CheckContext,
): Promise<{ status: ConformCheck['status']; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  const hardStop = new Promise<never>((_, reject) => {
    // Reads already stop at the deadline; this catches anything else, a second later.
    timer = setTimeout(
      () => {
        ctx.close();
        reject(new Error('the check ran out of time'));
      },
      Math.max(0, ctx.deadline - performance.now()) + 1000,
    );
  });
  try {
    return await Promise.race([def.run(ctx), hardStop]);
  } catch (err) {
    return { status: 'warn', reason: `inconclusive: ${(err as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

function summarize(checks: readonly ConformCheck[], durationMs: number): ConformSummary {
  const count = (s: ConformCheck['status']): number => checks.filter((c) => c.status === s).length;
  const fail = count('fail');
  const warn = count('warn');
  return {
    pass: count('pass'),
    warn,
    fail,
    skipped: count('skipped'),
    total: checks.length,
    status: fail > 0 ? 'fail' : warn > 0 ? 'warn' : 'pass',
    durationMs: Math.round(durationMs),
  };
}

function describe(info: ServerInfo): string[] {
  return [...info.keywords].map(([k, args]) => (args.length ? `${k} ${args.join(' ')}` : k));
}

/**
 * The first session: greeting, EHLO, STARTTLS (unless `'none'`), AUTH when credentials were given.
 * A certificate that does not verify is looked at again without verification (and then no
 * credentials are ever sent); the `tls-certificate` check reports it.
 */
async function discover(o: Resolved, requested: SmtpEncryption | undefined, server: ConformServer): Promise<Baseline> {
  const open = (tls: Resolved['tls']) =>
    RawSession.connect({
      host: o.host,
      port: o.port,
      implicitTls: o.channel === 'implicit',
      tls,
      connectTimeout: o.connectTimeout,
      tlsTimeout: o.connectTimeout,
      replyTimeout: o.replyTimeout,
      signal: o.signal,
    });
  let unverified = false;
  const attempt = async (tls: Resolved['tls']) => {
    const session = await open(tls);
    try {
      const greeting = await session.read();
      server.greeting = formatReply(greeting);
      if (greeting.code !== 220) throw new Error(`greeting refused: ${formatReply(greeting)}`);
      const first = await session.ehlo(o.clientName);
      let info = first;
      let plain: ServerInfo | null = o.channel === 'implicit' ? null : first;
      if (o.channel === 'starttls') {
        if (!first.startTls) {
          if (requested === 'tls') throw new TlsError('STARTTLS required (encryption tls) but not offered');
          o.channel = 'plain';
        } else {
          await session.startTls();
          info = await session.ehlo(o.clientName);
        }
      }
      if (o.channel === 'plain') plain = first;
      return { session, greeting, plain, info };
    } catch (err) {
      session.destroy();
      throw err;
    }
  };
  let found: Awaited<ReturnType<typeof attempt>>;
  try {
    found = await attempt(o.tls);
  } catch (err) {
    if (!(err instanceof TlsError) || o.channel === 'plain' || /required/.test(err.message)) throw err;
    unverified = true;
    found = await attempt({ ...o.tls, rejectUnauthorized: false });
  }
  const { session, greeting, plain, info } = found;
  server.unverified = unverified;
  server.secure = o.channel !== 'plain';
  server.capabilities = describe(info);
  server.capabilitiesBeforeTls = o.channel === 'implicit' || plain === null ? null : describe(plain);
  let authenticate = false;
  try {
    if (o.credentials) {
      const method = o.credentials.method ?? chooseMechanism(info, o.credentials, server.secure);
      if (unverified) server.error = 'certificate not verified: credentials were not sent';
      else if (!server.secure && !isLoopback(o.host)) server.error = 'no TLS: credentials were not sent';
      else if (method === null) server.error = 'no supported AUTH mechanism advertised';
      else {
        const reply = await session.auth(method, o.credentials.username, o.credentials.password);
        authenticate = reply.code === 235;
        if (!authenticate) server.error = `AUTH ${method} refused: ${formatReply(reply)}`;
      }
    }
  } finally {
    session.destroy();
  }
  server.authenticated = authenticate;
  return { greeting, plain, info, unverified, authenticate };
}

function resolve(options: ConformOptions): Resolved {
  if (!options || typeof options !== 'object') throw new InvalidArgumentError('conform options must be an object');
  assertKnownKeys(options, KNOWN_OPTIONS, 'conform options');
  const { host } = options;
  assertBareArgument(host, 'host');
  for (const field of ['sender', 'rcpt', 'clientName', 'username'] as const) {
    if (options[field] !== undefined) assertBareArgument(options[field], field);
  }
  if (options.encryption !== undefined && !['none', 'tls', 'ssl'].includes(options.encryption))
    throw new InvalidArgumentError("encryption must be 'none', 'tls' or 'ssl'", { field: 'encryption' });
  if (options.authMethod !== undefined && !AUTH_METHODS.includes(options.authMethod))
    throw new InvalidArgumentError(`authMethod must be one of ${AUTH_METHODS.join(', ')}`, { field: 'authMethod' });
  if (options.username !== undefined && options.password === undefined)
    throw new InvalidArgumentError('username needs a password', { field: 'password' });
  for (const field of ['port', 'replyTimeout', 'checkTimeout', 'budget', 'unknownCommandLimit'] as const) {
    const v = options[field];
    if (v !== undefined && !(Number.isFinite(v) && v > 0))
      throw new InvalidArgumentError(`${field} must be a positive number`, { field });
  }
  const unknownIds = (options.only ?? []).filter(
    (x) => !CONFORM_CHECKS.some((c) => c.id === x) && !CONFORM_GROUPS.includes(x as never),
  );
  if (unknownIds.length)
    throw new InvalidArgumentError(`only: unknown check or group ${unknownIds.join(', ')}`, { field: 'only' });
  const encryption = options.encryption;
  const port = options.port ?? (encryption === undefined ? DEFAULT_PORTS.none : DEFAULT_PORTS[encryption]);
  const replyTimeout = options.replyTimeout ?? DEFAULT_REPLY_TIMEOUT;
  return {
    host,
    port,
    channel: encryption === 'ssl' ? 'implicit' : encryption === 'none' ? 'plain' : 'starttls',
    tls: options.tls,
    clientName: options.clientName ?? 'smtpwire.conform',
    sender: options.sender ?? DEFAULT_SENDER,
    rcpt: options.rcpt ?? null,
    credentials:
      options.username === undefined
        ? null
        : { username: options.username, password: options.password!, method: options.authMethod ?? null },
    relayTest: options.relayTest === true,
    replyTimeout,
    connectTimeout: replyTimeout,
    unknownCommandLimit: options.unknownCommandLimit ?? DEFAULT_UNKNOWN_COMMAND_LIMIT,
    signal: options.signal,
  };
}
