/**
 * `smtpwire probe host[:port]`: what a server advertises and what it actually does, as text or JSON.
 * Exit 0 when every check passed, 1 with warnings, 2 on failure.
 */
import { parseArgs } from 'node:util';
import { type ProbeReport, probe, type TranscriptEntry, escapeTerminalText as t } from './api.js';
import {
  type CliIo,
  CONNECTION_OPTIONS,
  ENCRYPTION_USAGE,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_WARNINGS,
  ms,
  serverOptions,
  UsageError,
} from './common.js';
import { toJsonText } from './json.js';

/** `smtpwire probe --help`. */
export const PROBE_USAGE = `usage: smtpwire probe host[:port] ${ENCRYPTION_USAGE} [--user U --pass-env VAR]
                     [--auth-method M] [--ca FILE] [--insecure] [--name EHLO] [--bare-lf-to ADDR]
                     [--sender ADDR] [--no-checks] [--timeout MS] [--json] [-v]
  Default: STARTTLS when offered (a warning when not), port 25. --encryption tls (--starttls): required
  (port 587). --encryption ssl (--ssl): implicit TLS (port 465). --plain: no TLS (port 25). --bare-lf-to sends one test message there.`;

/** Runs the probe command; resolves with the exit code. @throws UsageError. */
export async function probeCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...CONNECTION_OPTIONS,
      'auth-method': { type: 'string' },
      name: { type: 'string' },
      'bare-lf-to': { type: 'string' },
      sender: { type: 'string' },
      'no-checks': { type: 'boolean' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('probe takes exactly one server: host[:port]');
  const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeout !== undefined && !(timeout > 0)) throw new UsageError('--timeout must be a positive number of ms');
  const transcript: TranscriptEntry[] = [];
  const report = await probe({
    ...(await serverOptions(io, positionals[0], values)),
    ...(timeout === undefined
      ? {}
      : { timeouts: { connect: timeout, greeting: timeout, tls: timeout, command: timeout } }),
    checks: {
      enabled: !values['no-checks'],
      ...(values['bare-lf-to'] === undefined ? {} : { bareLfRecipient: values['bare-lf-to'] }),
      ...(values.sender === undefined ? {} : { sender: values.sender }),
    },
    onTranscript: (entry) => transcript.push(entry),
  });
  if (values.json) {
    io.stdout.write(toJsonText(values.verbose ? { ...report, transcript } : report));
  } else {
    io.stdout.write(formatProbeReport(report, values.verbose ? transcript : null));
  }
  return report.status === 'ok' ? EXIT_OK : report.status === 'warnings' ? EXIT_WARNINGS : EXIT_FAILURE;
}

const MARK: Record<string, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skipped: 'SKIP' };

/**
 * The human-readable report. The transcript (secrets already redacted by the engine) with `-v`.
 * Every server-derived string goes through the terminal escaper.
 */
export function formatProbeReport(report: ProbeReport, transcript: TranscriptEntry[] | null): string {
  const out: string[] = [];
  out.push(
    `smtpwire probe ${t(report.host)}:${report.port} (${report.encryption === 'ssl' ? 'implicit TLS' : report.encryption === 'tls' ? 'STARTTLS' : 'plaintext'})`,
  );
  if (report.greeting !== null) out.push(`  greeting      ${t(report.greeting)}`);
  if (report.capabilitiesBeforeTls) out.push(`  before TLS    ${t(report.capabilitiesBeforeTls.join(', '))}`);
  if (report.capabilities) out.push(`  capabilities  ${t(report.capabilities.join(', '))}`);
  if (report.tls) {
    const s = report.tls;
    out.push(`  tls           ${s.mode}, ${t(s.protocol ?? '?')}, ${t(s.cipher ?? '?')}`);
    if (s.certificate) {
      const c = s.certificate;
      out.push(`  certificate   subject ${t(c.subject)}`);
      out.push(`                issuer  ${t(c.issuer)}`);
      out.push(`                valid   ${t(c.validFrom)} .. ${t(c.validTo)}`);
      out.push(`                ${c.verified ? 'verified' : `NOT VERIFIED (shown only): ${t(c.verifyError ?? '')}`}`);
    }
  } else if (report.greeting !== null) {
    out.push('  tls           none: plaintext session');
  }
  out.push(
    `  auth mechs    ${report.authMechanisms.length ? t(report.authMechanisms.join(' ')) : '(none advertised)'}`,
  );
  if (report.auth)
    out.push(
      `  auth          ${report.auth.ok ? 'OK' : report.auth.attempted ? `FAILED: ${t(report.auth.error ?? '')}` : `not attempted: ${t(report.auth.error ?? '')}`}`,
    );
  const times = report.timings;
  const timing = [
    ['connect', times.connect],
    ['tls', times.tls],
    ['greeting', times.greeting],
    ['ehlo', times.ehlo],
    ['starttls', times.starttls],
    ['auth', times.auth],
    ['noop', times.noop],
    ['total', times.total],
  ]
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${ms(v as number)}`);
  out.push(`  timings       ${timing.join(', ')}`);
  if (report.checks.length) {
    out.push('  checks');
    for (const c of report.checks) out.push(`    ${MARK[c.status]}  ${c.name.padEnd(22)} ${t(c.reason)}`);
  }
  if (report.error) out.push(`  error         ${report.error.code}: ${t(report.error.message)}`);
  out.push(`  result        ${report.status}`);
  if (transcript) {
    out.push('  transcript');
    for (const e of transcript) out.push(`    ${e.direction === 'client' ? 'C:' : 'S:'} ${t(e.line)}`);
  }
  return `${out.join('\n')}\n`;
}
