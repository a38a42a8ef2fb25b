/**
 * probe: a small report on one SMTP server, and a named preset of `conform` checks. It connects
 * through the engine (`SmtpConnection`) and records what the server advertises before and after
 * STARTTLS, the TLS session and certificate, AUTH and round-trip times; then it runs the
 * {@link PROBE_PRESET} through `conform()` — the one scanner, its one runner and verdict rules —
 * and reports each check under its probe name (`starttls`, `pipelining`, `size`, …), so the report
 * keeps its shape.
 */
import type tls from 'node:tls';
import { DEFAULT_PORTS, type SmtpEncryption } from '../enums.js';
import { ErrorCodes, TlsError, toSmtpError } from '../errors.js';
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
import { conform } from './conform.js';
import { assertBareArgument } from './context.js';
import type { ConformCheckId, ConformOptions } from './types.js';

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

/**
 * The probe preset: which conform check answers each probe check. Its verdicts are conform's
 * (`vrfy-disclosure`, `cmd-unknown`, `size-declared` … as documented in `src/conform/checks/`).
 */
export const PROBE_PRESET: readonly { readonly name: ProbeCheck['name']; readonly id: ConformCheckId }[] =
  Object.freeze([
    { name: 'starttls', id: 'starttls-offered' },
    { name: 'pipelining', id: 'pipelining-mail-rcpt-data' },
    { name: 'size', id: 'size-declared' },
    { name: 'bare-lf', id: 'data-bare-lf' },
    { name: 'enhanced-status-codes', id: 'ext-enhancedstatuscodes' },
    { name: 'vrfy', id: 'vrfy-disclosure' },
    { name: 'unknown-command', id: 'cmd-unknown' },
  ]);

/** Longest wait for one reply on conform's raw sessions (less with a shorter command timeout); a check gets four. */
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
    const error = toSmtpError(err);
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
  } catch (err) {
    const error = toSmtpError(err);
    report.error = { code: error.code, message: error.message };
  } finally {
    await conn.close();
  }
  if (report.error === null && checks.enabled !== false) {
    report.checks = await runPreset(options, port, encryption, opportunistic, report.auth?.ok === true);
  }
  report.timings.total = performance.now() - started;
  report.status = overallStatus(report);
  return report;
}

/** Runs {@link PROBE_PRESET} through `conform()` with the probe's server, channel and credentials. */
async function runPreset(
  options: ProbeOptions,
  port: number,
  encryption: SmtpEncryption,
  opportunistic: boolean,
  authenticated: boolean,
): Promise<ProbeCheck[]> {
  const checks = options.checks ?? {};
  const replyTimeout = Math.min(RAW_REPLY_TIMEOUT, options.timeouts?.command ?? RAW_REPLY_TIMEOUT);
  const accessToken = typeof options.accessToken === 'function' ? await options.accessToken() : options.accessToken;
  const conformOptions: ConformOptions = {
    host: options.host,
    port,
    // Opportunistic STARTTLS is conform's default (no encryption given): upgrade when offered.
    ...(encryption === 'tls' && opportunistic ? {} : { encryption }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    clientName: options.clientName ?? 'smtpwire.probe',
    // The raw sessions authenticate only when the engine's AUTH worked (never over an unverified certificate).
    ...(authenticated && options.username !== undefined
      ? {
          username: options.username,
          ...(options.password === undefined ? {} : { password: options.password }),
          ...(accessToken === undefined ? {} : { accessToken }),
          ...(options.authMethod === undefined ? {} : { authMethod: options.authMethod }),
        }
      : {}),
    sender: checks.sender ?? DEFAULT_SENDER,
    ...(checks.bareLfRecipient === undefined ? {} : { rcpt: checks.bareLfRecipient }),
    only: PROBE_PRESET.map((p) => p.id),
    replyTimeout,
    checkTimeout: 4 * replyTimeout,
  };
  const report = await conform(conformOptions);
  return PROBE_PRESET.map(({ name, id }) => {
    const found = report.checks.find((c) => c.id === id);
    if (found === undefined) return { name, status: 'skipped', reason: 'not run' };
    if (found.status === 'skipped' && id === 'data-bare-lf' && checks.bareLfRecipient === undefined)
      return { name, status: 'skipped', reason: 'no probe recipient given (checks.bareLfRecipient / --bare-lf-to)' };
    return { name, status: found.status, reason: found.reason };
  });
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
    const error = toSmtpError(err);
    // A refused AUTH keeps the connection usable; an insecure-channel refusal sent nothing at all.
    return { attempted: true, ok: false, mechanism, error: error.message };
  }
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
