/**
 * `conform()` for one server: tests one SMTP server's conformance and security the way testssl.sh tests TLS.
 * Each check opens its own raw session (`raw-session.ts`, through `transport/connect.ts`), writes
 * exact bytes, and judges the server from its replies; the verdict rules are documented in each
 * check module and in test/conformance/README.md.
 *
 * Bounded: every reply wait has `replyTimeout`, every check `checkTimeout`, the whole run `budget`
 * (checks that cannot start in time are `skipped`). Mail is only ever sent to `rcpt`, the
 * operator's own mailbox; without it those checks are skipped.
 */
import type { SmtpEncryption } from '../enums.js';
import { ErrorCodes, InvalidArgumentError, SmtpError, TlsError } from '../errors.js';
import {
  assertObject,
  checkBooleans,
  checkClientName,
  checkConformKeys,
  checkCredentials,
  checkEncryption,
  checkHost,
  checkPort,
  duration,
  positiveInteger,
} from '../options.js';
import type { ServerInfo } from '../protocol/extensions.js';
import { formatReply } from '../protocol/reply.js';
import { credentialsAllowed } from '../transport/login.js';
import { EXTENSION_CHECKS } from './checks/extensions.js';
import { LIMIT_CHECKS } from './checks/limits.js';
import { PIPELINING_CHECKS } from './checks/pipelining.js';
import { SMUGGLING_CHECKS } from './checks/smuggling.js';
import { STARTTLS_CHECKS } from './checks/starttls.js';
import { assertBareArgument, type Baseline, type CheckDef, chooseMechanism, type Resolved } from './context.js';
import { RawSession } from './raw-session.js';
import { runChecks, summarize } from './runner.js';
import {
  CONFORM_GROUPS,
  type ConformCheck,
  type ConformOptions,
  type ConformReport,
  type ConformServer,
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

const DEFAULT_SENDER = 'conform@smtpwire.invalid';
const DEFAULT_REPLY_TIMEOUT = 5_000;
const DEFAULT_CHECK_TIMEOUT = 20_000;
const DEFAULT_BUDGET = 180_000;
const DEFAULT_UNKNOWN_COMMAND_LIMIT = 12;

/**
 * Runs the conformance checks against one server and reports each with its evidence (`conform()`
 * without `domain`; the domain scan calls it per MX address). Never throws for what the server
 * does: an unreachable server is a report with `server.error` and every check skipped.
 * @throws InvalidArgumentError for an unknown option key or an unusable value.
 */
export async function conformServer(options: ConformOptions): Promise<ConformReport> {
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
  let discovered: Discovered | null = null;
  try {
    discovered = await discover(o, options.encryption, server);
  } catch (err) {
    server.error = (err as Error).message;
  }
  const checks = await runChecks(
    selected,
    discovered?.options ?? o,
    discovered?.baseline ?? null,
    {
      budgetEnd: started + (options.budget ?? DEFAULT_BUDGET),
      checkTimeout: options.checkTimeout ?? DEFAULT_CHECK_TIMEOUT,
    },
    server.error ?? 'unknown error',
  );
  const summary = summarize(checks, performance.now() - started);
  // A server that could not be examined fails the run: nothing passed.
  if (discovered === null) summary.status = 'fail';
  return { server, checks, summary };
}

function describe(info: ServerInfo): string[] {
  return [...info.keywords].map(([k, args]) => (args.length ? `${k} ${args.join(' ')}` : k));
}

/** What discovery found: the options the checks run with (the channel it settled on) and the baseline. */
interface Discovered {
  options: Resolved;
  baseline: Baseline;
}

/**
 * The first session: greeting, EHLO, STARTTLS (unless `'none'`), AUTH when credentials were given.
 * A certificate that does not verify is looked at again without verification (and then no
 * credentials are ever sent); the `tls-certificate` check reports it. Without STARTTLS on offer (and
 * not required) the checks run in plaintext: a new resolved options value says so, the caller's is
 * left as it was.
 */
async function discover(
  o: Resolved,
  requested: SmtpEncryption | undefined,
  server: ConformServer,
): Promise<Discovered> {
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
  const attempt = async (tls: Resolved['tls']) => {
    const session = await open(tls);
    try {
      const greeting = await session.read();
      server.greeting = formatReply(greeting);
      if (greeting.code !== 220) throw new SmtpError(`greeting refused: ${formatReply(greeting)}`);
      const first = await session.ehlo(o.clientName);
      let info = first;
      let channel = o.channel;
      if (channel === 'starttls') {
        if (!first.startTls) {
          if (requested === 'tls')
            throw new TlsError('STARTTLS required (encryption tls) but not offered', {
              code: ErrorCodes.STARTTLS_UNAVAILABLE,
            });
          channel = 'plain';
        } else {
          await session.startTls();
          info = await session.ehlo(o.clientName);
        }
      }
      const plain: ServerInfo | null = channel === 'implicit' ? null : first;
      return { session, greeting, plain, info, channel };
    } catch (err) {
      session.destroy();
      throw err;
    }
  };
  let unverified = false;
  let found: Awaited<ReturnType<typeof attempt>>;
  try {
    found = await attempt(o.tls);
  } catch (err) {
    // Only a failed handshake is looked at again, unverified; a missing STARTTLS is final.
    if (!(err instanceof TlsError) || err.code !== ErrorCodes.TLS || o.channel === 'plain') throw err;
    unverified = true;
    found = await attempt({ ...o.tls, rejectUnauthorized: false });
  }
  const { session, greeting, plain, info, channel } = found;
  server.unverified = unverified;
  server.secure = channel !== 'plain';
  server.capabilities = describe(info);
  server.capabilitiesBeforeTls = channel === 'implicit' || plain === null ? null : describe(plain);
  let authenticate = false;
  try {
    if (o.credentials) {
      const method = o.credentials.method ?? chooseMechanism(info, o.credentials, server.secure);
      if (unverified) server.error = 'certificate not verified: credentials were not sent';
      // The engine's rule; a scan never sends credentials in plaintext to a remote host.
      else if (!credentialsAllowed(o.host, server.secure, false)) server.error = 'no TLS: credentials were not sent';
      else if (method === null) server.error = 'no supported AUTH mechanism advertised';
      else {
        const { username, password, accessToken } = o.credentials;
        const reply = await session.auth(method, username, password, accessToken);
        authenticate = reply.code === 235;
        if (!authenticate) server.error = `AUTH ${method} refused: ${formatReply(reply)}`;
      }
    }
  } finally {
    session.destroy();
  }
  server.authenticated = authenticate;
  return {
    options: channel === o.channel ? o : { ...o, channel },
    baseline: { greeting, plain, info, unverified, authenticate },
  };
}

function resolve(options: ConformOptions): Resolved {
  // options.ts owns every rule here: the same value gets the same error as in the handler.
  assertObject(options, 'conform options');
  checkConformKeys(options);
  const host = checkHost(options.host);
  const encryption = options.encryption === undefined ? undefined : checkEncryption(options.encryption);
  const port = checkPort(options.port, encryption ?? 'none');
  checkCredentials(options);
  if (options.username !== undefined && options.password === undefined && options.accessToken === undefined)
    throw new InvalidArgumentError('username needs a password or an accessToken', { field: 'password' });
  checkClientName(options.clientName);
  checkBooleans(options, ['relayTest']);
  // Raw-session arguments (written into MAIL/RCPT/EHLO/AUTH lines): the raw session's own rule too.
  assertBareArgument(host, 'host');
  for (const field of ['sender', 'rcpt', 'clientName', 'username'] as const) {
    if (options[field] !== undefined) assertBareArgument(options[field], field);
  }
  const replyTimeout = duration(options.replyTimeout, DEFAULT_REPLY_TIMEOUT, 'replyTimeout', { infinityOk: false });
  duration(options.checkTimeout, DEFAULT_CHECK_TIMEOUT, 'checkTimeout', { infinityOk: false });
  duration(options.budget, DEFAULT_BUDGET, 'budget', { infinityOk: false });
  const unknownCommandLimit = positiveInteger(
    options.unknownCommandLimit,
    DEFAULT_UNKNOWN_COMMAND_LIMIT,
    'unknownCommandLimit',
  );
  const unknownIds = (options.only ?? []).filter(
    (x) => !CONFORM_CHECKS.some((c) => c.id === x) && !CONFORM_GROUPS.includes(x as never),
  );
  if (unknownIds.length)
    throw new InvalidArgumentError(`only: unknown check or group ${unknownIds.join(', ')}`, { field: 'only' });
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
        : {
            username: options.username,
            password: options.password ?? '',
            method: options.authMethod ?? null,
            ...(options.accessToken === undefined ? {} : { accessToken: options.accessToken }),
          },
    relayTest: options.relayTest === true,
    replyTimeout,
    connectTimeout: replyTimeout,
    unknownCommandLimit,
    signal: options.signal,
  };
}
