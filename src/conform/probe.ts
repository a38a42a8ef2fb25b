/**
 * probe: a small conformance report on one SMTP server. It connects through the engine
 * (`SmtpConnection`), records what the server advertises before and after STARTTLS, the TLS session
 * and certificate, AUTH, round-trip times, and then checks what the server actually does: PIPELINING
 * honoured, STARTTLS really upgraded, SIZE enforced, bare LF in DATA refused, enhanced status codes,
 * VRFY and unknown-command handling. Each check is pass / warn / fail / skipped with a one-line reason.
 *
 * Two checks need a raw socket: the engine can never put a bare LF on the wire (its encoder
 * normalises line ends, RFC 5321 §2.3.8), and its public commands wait for each reply, so they
 * cannot pipeline MAIL/RCPT/RSET in one write (RFC 2920). Those two are `conform`'s own checks
 * (`pipelining-mail-rcpt-data`, `data-bare-lf`), run on the shared raw session (`raw-session.ts`,
 * through `transport/connect.ts`); it authenticates when the probe did (a submission server
 * refuses MAIL without AUTH), with the secrets redacted from its evidence.
 */
import type tls from 'node:tls';
import { DEFAULT_PORTS, type SmtpEncryption } from '../enums.js';
import { ErrorCodes, SmtpError, TlsError } from '../errors.js';
import { assertObject, checkProbeKeys, resolveEndpoint } from '../options.js';
import type { AccessTokenProvider, AuthMethod } from '../protocol/auth.js';
import type { ServerInfo } from '../protocol/extensions.js';
import { formatReply } from '../protocol/reply.js';
import {
  type ConnectionTimings,
  SmtpConnection,
  type Timeouts,
  type TranscriptEntry,
} from '../transport/connection.js';
import { PIPELINING_CHECKS } from './checks/pipelining.js';
import { SMUGGLING_CHECKS } from './checks/smuggling.js';
import { assertBareArgument, type Baseline, CheckContext, type Resolved } from './context.js';

/** Outcome of one conformance check. `skipped` means it could not or should not be run. */
export type ProbeCheckStatus = 'pass' | 'warn' | 'fail' | 'skipped';

/** One conformance check with its one-line reason. */
export interface ProbeCheck {
  name: 'starttls' | 'pipelining' | 'size' | 'bare-lf' | 'enhanced-status-codes' | 'vrfy' | 'unknown-command';
  status: ProbeCheckStatus;
  reason: string;
}

/** Which checks to run, and the addresses the transaction checks may use. */
export interface ProbeChecks {
  /** Run the conformance checks at all. Default true. */
  enabled?: boolean;
  /**
   * A mailbox that may receive a test message: the bare-LF check sends one message to it (MAIL/RCPT/DATA
   * over a raw socket). Without it that check is `skipped`, so a probe never delivers mail by surprise.
   */
  bareLfRecipient?: string;
  /** Reverse-path for the transaction checks. Default `probe@smtpwire.invalid`. */
  sender?: string;
}

/** Options of {@link probe}: where to connect, how, with which credentials, and which checks to run. */
export interface ProbeOptions {
  host: string;
  /** Default 25 when `encryption` is omitted (opportunistic STARTTLS, as MX servers), else 25, 587 or 465. */
  port?: number;
  /**
   * `'ssl'`: implicit TLS. `'tls'`: STARTTLS required (failure when missing). `'none'`: plaintext only.
   * Default `'tls'` with `opportunisticTls`: upgrade when offered, report a warning when not.
   */
  encryption?: SmtpEncryption;
  /** With encryption 'tls': carry on in plaintext when STARTTLS is missing. Default true when encryption is omitted. */
  opportunisticTls?: boolean;
  tls?: tls.ConnectionOptions;
  /**
   * When certificate verification fails, connect again with `rejectUnauthorized: false` only to show
   * the certificate (marked unverified; credentials are then never sent). Default true.
   */
  retryUnverified?: boolean;
  username?: string;
  password?: string;
  accessToken?: AccessTokenProvider;
  authMethod?: AuthMethod;
  clientName?: string;
  timeouts?: Partial<Timeouts>;
  /** Allow AUTH over plaintext to a non-loopback host. Default false. */
  allowInsecureAuth?: boolean;
  checks?: ProbeChecks;
  /** Every protocol line of the engine connection, secrets redacted. */
  onTranscript?: (entry: TranscriptEntry) => void;
}

/** The server certificate as seen by the client. */
export interface ProbeCertificate {
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  subjectAltName: string | null;
  fingerprint256: string;
  /** The chain verified against the trusted CAs and the host name matched. */
  verified: boolean;
  /** Why verification failed, when it did. */
  verifyError: string | null;
}

/** The TLS session of the probed connection. */
export interface ProbeTls {
  /** How TLS came about. */
  mode: 'implicit' | 'starttls';
  protocol: string | null;
  cipher: string | null;
  certificate: ProbeCertificate | null;
}

/** What happened to AUTH (RFC 4954) when credentials were given. */
export interface ProbeAuth {
  attempted: boolean;
  ok: boolean;
  mechanism: AuthMethod | null;
  /** Why it failed or was not attempted. */
  error: string | null;
}

/** Round trips per phase, ms. `noop` is the median of a few NOOPs. */
export interface ProbeTimings extends ConnectionTimings {
  auth?: number;
  noop?: number;
  total?: number;
}

/** What `probe` found. JSON-serialisable. */
export interface ProbeReport {
  host: string;
  port: number;
  encryption: SmtpEncryption;
  /** `ok`: every check passed; `warnings`: some warned; `failure`: no session, AUTH failed or a check failed. */
  status: 'ok' | 'warnings' | 'failure';
  /** The error that stopped the probe, if any. */
  error: { code: string; message: string } | null;
  greeting: string | null;
  serverName: string | null;
  /** EHLO keywords with their parameters, before STARTTLS (null without STARTTLS). */
  capabilitiesBeforeTls: string[] | null;
  /** EHLO keywords with their parameters, on the final channel. */
  capabilities: string[] | null;
  secure: boolean;
  tls: ProbeTls | null;
  authMechanisms: string[];
  auth: ProbeAuth | null;
  timings: ProbeTimings;
  checks: ProbeCheck[];
}

/** Longest wait for a reply on the raw socket before calling the check failed (less with a shorter command timeout). */
const RAW_REPLY_TIMEOUT = 10_000;
const DEFAULT_SENDER = 'probe@smtpwire.invalid';
const NOOP_ROUNDS = 3;

/**
 * Probes one server and reports. Never throws for what the server does: a refused connection, a
 * failed handshake or AUTH are in the report (`status: 'failure'`, `error`).
 * @throws InvalidArgumentError for an unusable host, port or address option.
 */
export async function probe(options: ProbeOptions): Promise<ProbeReport> {
  assertObject(options, 'probe options');
  checkProbeKeys(options);
  // Without an encryption, port 25 with opportunistic STARTTLS, as an MX is probed.
  const { encryption, port } = resolveEndpoint({
    ...options,
    port: options.port ?? (options.encryption === undefined ? DEFAULT_PORTS.none : undefined),
  });
  const opportunistic = options.opportunisticTls ?? options.encryption === undefined;
  const checks = options.checks ?? {};
  for (const field of ['bareLfRecipient', 'sender'] as const) {
    if (checks[field] !== undefined) assertBareArgument(checks[field], `checks.${field}`);
  }
  const report: ProbeReport = {
    host: options.host,
    port,
    encryption,
    status: 'failure',
    error: null,
    greeting: null,
    serverName: null,
    capabilitiesBeforeTls: null,
    capabilities: null,
    secure: false,
    tls: null,
    authMechanisms: [],
    auth: null,
    timings: {},
    checks: [],
  };
  const started = performance.now();
  const open = async (tlsOptions: tls.ConnectionOptions | undefined): Promise<SmtpConnection> => {
    const conn = new SmtpConnection({
      host: options.host,
      port,
      encryption,
      opportunisticTls: opportunistic,
      ...(tlsOptions === undefined ? {} : { tls: tlsOptions }),
      ...(options.clientName === undefined ? {} : { clientName: options.clientName }),
      ...(options.timeouts === undefined ? {} : { timeouts: options.timeouts }),
      ...(options.allowInsecureAuth === undefined ? {} : { allowInsecureAuth: options.allowInsecureAuth }),
      ...(options.onTranscript === undefined ? {} : { onTranscript: options.onTranscript }),
    });
    await conn.connect();
    return conn;
  };

  let conn: SmtpConnection;
  let verifyError: string | null = null;
  try {
    conn = await open(options.tls);
  } catch (err) {
    const error = asSmtpError(err);
    if (
      !(error instanceof TlsError) ||
      error.code !== ErrorCodes.TLS ||
      options.retryUnverified === false ||
      encryption === 'none'
    ) {
      report.error = { code: error.code, message: error.message };
      report.timings.total = performance.now() - started;
      return report;
    }
    // Verification (or another handshake step) failed: look again without verification, only to show
    // the certificate. The report marks it unverified and nothing secret is sent on that connection.
    verifyError = error.message;
    options.onTranscript?.({
      direction: 'client',
      line: '-- certificate not verified; connecting again without verification, only to show it --',
    });
    try {
      conn = await open({ ...options.tls, rejectUnauthorized: false });
    } catch {
      report.error = { code: error.code, message: error.message };
      report.timings.total = performance.now() - started;
      return report;
    }
  }

  const unverified = verifyError !== null;
  try {
    report.greeting = conn.greeting ? formatReply(conn.greeting) : null;
    const info = conn.capabilities!;
    report.serverName = info.serverName;
    report.capabilities = describeCapabilities(info);
    const before = conn.plaintextCapabilities;
    report.capabilitiesBeforeTls = before ? describeCapabilities(before) : null;
    report.secure = conn.secure;
    report.authMechanisms = [...info.authMechanisms];
    Object.assign(report.timings, conn.timings);
    const socket = conn.tlsSocket;
    if (socket) report.tls = describeTls(socket, encryption === 'ssl' ? 'implicit' : 'starttls', verifyError);

    report.auth = await authenticate(conn, options, unverified, report.timings);

    const rtts: number[] = [];
    for (let i = 0; i < NOOP_ROUNDS; i++) {
      const t = performance.now();
      await conn.noop();
      rtts.push(performance.now() - t);
    }
    report.timings.noop = median(rtts);

    if (checks.enabled !== false) {
      const sender = checks.sender ?? DEFAULT_SENDER;
      report.checks.push(checkStartTls(conn, encryption, opportunistic));
      const input: RawCheckInput = {
        options,
        port,
        encryption,
        conn,
        unverified,
        authenticated: report.auth?.ok === true,
        sender,
      };
      report.checks.push(await checkPipelining(input));
      report.checks.push(await checkSize(conn, sender));
      report.checks.push(await checkBareLf(input, checks.bareLfRecipient));
      const { enhanced, vrfy, unknown } = await checkReplies(conn);
      report.checks.push(enhanced, vrfy, unknown);
    }
  } catch (err) {
    const error = asSmtpError(err);
    report.error = { code: error.code, message: error.message };
  } finally {
    await conn.close();
  }
  report.timings.total = performance.now() - started;
  report.status = overallStatus(report);
  return report;
}

function overallStatus(report: ProbeReport): ProbeReport['status'] {
  if (report.error) return 'failure';
  if (report.auth?.attempted && !report.auth.ok) return 'failure';
  if (report.checks.some((c) => c.status === 'fail')) return 'failure';
  if (report.checks.some((c) => c.status === 'warn')) return 'warnings';
  if (report.tls?.certificate && !report.tls.certificate.verified) return 'warnings';
  return 'ok';
}

async function authenticate(
  conn: SmtpConnection,
  options: ProbeOptions,
  unverified: boolean,
  timings: ProbeTimings,
): Promise<ProbeAuth | null> {
  if (options.username === undefined) return null;
  const mechanism = options.authMethod ?? null;
  if (unverified) {
    return { attempted: false, ok: false, mechanism, error: 'certificate not verified: credentials were not sent' };
  }
  const t = performance.now();
  try {
    await conn.login(
      {
        username: options.username,
        ...(options.password === undefined ? {} : { password: options.password }),
        ...(options.accessToken === undefined ? {} : { accessToken: options.accessToken }),
      },
      options.authMethod === undefined ? {} : { method: options.authMethod },
    );
    timings.auth = performance.now() - t;
    // Without a configured method the engine chose the strongest offered (SCRAM-PLUS, SCRAM, …): report it.
    return { attempted: true, ok: true, mechanism: conn.authMechanism ?? mechanism, error: null };
  } catch (err) {
    timings.auth = performance.now() - t;
    const error = asSmtpError(err);
    // A refused AUTH keeps the connection usable; an insecure-channel refusal sent nothing at all.
    return { attempted: true, ok: false, mechanism, error: error.message };
  }
}

// ── checks ────────────────────────────────────────────────────────────────────────────────────

function checkStartTls(conn: SmtpConnection, encryption: SmtpEncryption, opportunistic: boolean): ProbeCheck {
  const name = 'starttls';
  if (encryption === 'none') return { name, status: 'skipped', reason: 'plaintext probe (encryption none)' };
  if (encryption === 'ssl')
    return { name, status: conn.secure ? 'pass' : 'fail', reason: 'implicit TLS (RFC 8314): no STARTTLS needed' };
  const before = conn.plaintextCapabilities;
  const after = conn.capabilities!;
  if (!before) {
    return {
      name,
      status: opportunistic ? 'warn' : 'fail',
      reason: 'STARTTLS not offered: the session stays in plaintext',
    };
  }
  if (!conn.secure) return { name, status: 'fail', reason: 'STARTTLS answered but the channel is not encrypted' };
  if (after === before) return { name, status: 'fail', reason: 'capabilities were not read again after TLS' };
  if (conn.plaintextDiscarded > 0) {
    return {
      name,
      status: 'warn',
      reason: `${conn.plaintextDiscarded} plaintext bytes after the 220 (discarded, RFC 3207 §6)`,
    };
  }
  if (after.startTls)
    return { name, status: 'warn', reason: 'upgraded, but STARTTLS is still advertised under TLS (RFC 3207 §4.2)' };
  return { name, status: 'pass', reason: 'upgraded to TLS, EHLO repeated and capabilities re-read' };
}

/** What the raw-session checks need from the probe's engine session. */
interface RawCheckInput {
  options: ProbeOptions;
  port: number;
  encryption: SmtpEncryption;
  conn: SmtpConnection;
  unverified: boolean;
  authenticated: boolean;
  sender: string;
}

/** Runs one of conform's checks on the raw session, with the probe's channel, credentials and timeouts. */
async function runConformCheck(
  input: RawCheckInput,
  id: string,
  rcpt: string | null,
): Promise<{ status: ProbeCheckStatus; reason: string }> {
  const { options, conn, encryption } = input;
  const def = [...PIPELINING_CHECKS, ...SMUGGLING_CHECKS].find((c) => c.id === id)!;
  const replyTimeout = Math.min(RAW_REPLY_TIMEOUT, options.timeouts?.command ?? RAW_REPLY_TIMEOUT);
  const info = conn.capabilities!;
  const accessToken = typeof options.accessToken === 'function' ? await options.accessToken() : options.accessToken;
  const resolved: Resolved = {
    host: options.host,
    port: input.port,
    channel: encryption === 'ssl' ? 'implicit' : conn.secure ? 'starttls' : 'plain',
    tls: options.tls,
    clientName: options.clientName ?? 'smtpwire.probe',
    sender: input.sender,
    rcpt,
    credentials:
      input.authenticated && options.username !== undefined
        ? {
            username: options.username,
            password: options.password ?? '',
            method: options.authMethod ?? null,
            ...(accessToken === undefined ? {} : { accessToken }),
          }
        : null,
    relayTest: false,
    replyTimeout,
    connectTimeout: Math.min(RAW_REPLY_TIMEOUT, options.timeouts?.connect ?? RAW_REPLY_TIMEOUT),
    unknownCommandLimit: 0,
    signal: undefined,
  };
  const baseline: Baseline = {
    greeting: conn.greeting!,
    plain: conn.plaintextCapabilities ?? (conn.secure ? null : info),
    info,
    unverified: input.unverified,
    authenticate: resolved.credentials !== null,
  };
  const ctx = new CheckContext(resolved, baseline, performance.now() + 4 * replyTimeout, []);
  try {
    return await def.run(ctx);
  } catch (err) {
    return { status: 'fail', reason: `pipelined commands not answered: ${(err as Error).message}` };
  } finally {
    ctx.close();
  }
}

async function checkPipelining(input: RawCheckInput): Promise<ProbeCheck> {
  // Without a recipient: MAIL, RCPT TO:<postmaster>, RSET in one write (nothing delivered).
  return { name: 'pipelining', ...(await runConformCheck(input, 'pipelining-mail-rcpt-data', null)) };
}

async function checkSize(conn: SmtpConnection, sender: string): Promise<ProbeCheck> {
  const name = 'size';
  const limit = conn.capabilities!.size;
  if (limit === null) return { name, status: 'skipped', reason: 'SIZE not advertised' };
  if (limit === 0) return { name, status: 'skipped', reason: 'SIZE advertised without a fixed limit' };
  const reply = await conn.command(`MAIL FROM:<${sender}> SIZE=${limit + 1}`);
  await conn.command('RSET');
  if (reply.code === 552 || reply.enhanced === '5.3.4')
    return { name, status: 'pass', reason: `SIZE=${limit + 1} refused: ${formatReply(reply)}` };
  if (reply.code === 530 || reply.enhanced?.startsWith('5.7.') || reply.code === 503) {
    return {
      name,
      status: 'warn',
      reason: `inconclusive: MAIL refused before SIZE could be judged (${formatReply(reply)})`,
    };
  }
  if (reply.code >= 500)
    return {
      name,
      status: 'pass',
      reason: `SIZE=${limit + 1} refused, though not with 552 (RFC 1870 §6): ${formatReply(reply)}`,
    };
  if (reply.code >= 400)
    return { name, status: 'warn', reason: `SIZE=${limit + 1} refused only temporarily: ${formatReply(reply)}` };
  return {
    name,
    status: 'fail',
    reason: `MAIL with SIZE=${limit + 1} over the advertised ${limit} was accepted: ${formatReply(reply)}`,
  };
}

async function checkBareLf(input: RawCheckInput, recipient: string | undefined): Promise<ProbeCheck> {
  const name = 'bare-lf';
  if (recipient === undefined)
    return { name, status: 'skipped', reason: 'no probe recipient given (checks.bareLfRecipient / --bare-lf-to)' };
  const verdict = await runConformCheck(input, 'data-bare-lf', recipient);
  // A setup failure is inconclusive here, not a pipelining failure.
  return { name, ...(verdict.status === 'fail' ? { status: 'warn', reason: verdict.reason } : verdict) };
}

async function checkReplies(
  conn: SmtpConnection,
): Promise<{ enhanced: ProbeCheck; vrfy: ProbeCheck; unknown: ProbeCheck }> {
  const advertised = conn.capabilities!.enhancedStatusCodes;
  const rset = await conn.command('RSET');
  const vrfyReply = await conn.command('VRFY postmaster');
  // Last: some servers count unknown commands and hang up after a few.
  const unknownReply = await conn.command('XSMTPWIREPROBE');
  const sample = [rset, vrfyReply, unknownReply];
  const withCode = sample.filter((r) => r.enhanced !== null).length;
  let enhanced: ProbeCheck;
  if (!advertised) {
    enhanced = {
      name: 'enhanced-status-codes',
      status: withCode > 0 ? 'pass' : 'warn',
      reason: 'ENHANCEDSTATUSCODES not advertised (RFC 2034)',
    };
  } else if (withCode === sample.length) {
    enhanced = {
      name: 'enhanced-status-codes',
      status: 'pass',
      reason: 'advertised and present on RSET, VRFY and unknown-command replies',
    };
  } else {
    enhanced = {
      name: 'enhanced-status-codes',
      status: 'warn',
      reason: `advertised but missing on ${sample.length - withCode} of ${sample.length} replies (RFC 2034 §3)`,
    };
  }
  let vrfy: ProbeCheck;
  if (vrfyReply.code === 250 || vrfyReply.code === 251) {
    vrfy = { name: 'vrfy', status: 'warn', reason: `VRFY discloses mailboxes: ${formatReply(vrfyReply)}` };
  } else if (vrfyReply.code === 252 || vrfyReply.code === 502 || vrfyReply.code === 500 || vrfyReply.code >= 550) {
    vrfy = { name: 'vrfy', status: 'pass', reason: `VRFY answered ${formatReply(vrfyReply)} (RFC 5321 §3.5.3)` };
  } else {
    vrfy = { name: 'vrfy', status: 'warn', reason: `unexpected VRFY reply: ${formatReply(vrfyReply)}` };
  }
  let unknown: ProbeCheck;
  if (unknownReply.code === 500 || unknownReply.code === 502) {
    unknown = {
      name: 'unknown-command',
      status: 'pass',
      reason: `unknown command answered ${formatReply(unknownReply)}`,
    };
  } else if (unknownReply.code >= 400) {
    unknown = {
      name: 'unknown-command',
      status: 'warn',
      reason: `unknown command answered ${formatReply(unknownReply)} (expected 500, RFC 5321 §4.2.4)`,
    };
  } else {
    unknown = {
      name: 'unknown-command',
      status: 'fail',
      reason: `an unknown command was accepted: ${formatReply(unknownReply)}`,
    };
  }
  return { enhanced, vrfy, unknown };
}

// ── report helpers ───────────────────────────────────────────────────────────────────────────

function describeCapabilities(info: ServerInfo): string[] {
  return [...info.keywords].map(([k, args]) => (args.length ? `${k} ${args.join(' ')}` : k));
}

function describeTls(socket: tls.TLSSocket, mode: ProbeTls['mode'], verifyError: string | null): ProbeTls {
  const cert = socket.getPeerCertificate();
  const hasCert = cert && Object.keys(cert).length > 0;
  return {
    mode,
    protocol: socket.getProtocol() ?? null,
    cipher: socket.getCipher()?.name ?? null,
    certificate: hasCert
      ? {
          subject: dn(cert.subject),
          issuer: dn(cert.issuer),
          validFrom: cert.valid_from,
          validTo: cert.valid_to,
          subjectAltName: cert.subjectaltname ?? null,
          fingerprint256: cert.fingerprint256,
          verified: verifyError === null && socket.authorized,
          verifyError: verifyError ?? (socket.authorized ? null : String(socket.authorizationError ?? 'not verified')),
        }
      : null,
  };
}

function dn(name: tls.Certificate | undefined): string {
  if (!name) return '';
  return Object.entries(name)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
    .join(', ');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function asSmtpError(err: unknown): SmtpError {
  return err instanceof SmtpError ? err : new SmtpError((err as Error)?.message ?? String(err), { cause: err });
}
