/**
 * `smtpwire probe host[:port]`: what a server advertises and what it actually does, as text or JSON.
 * Exit 0 when every check passed, 1 with warnings, 2 on failure.
 */
import { parseArgs } from 'node:util';
import { type ProbeReport, probe, type TranscriptEntry } from './api.js';
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

/** The human-readable report. The transcript (secrets already redacted by the engine) with `-v`. */
export function formatProbeReport(report: ProbeReport, transcript: TranscriptEntry[] | null): string {
  const out: string[] = [];
  out.push(
    `smtpwire probe ${report.host}:${report.port} (${report.encryption === 'ssl' ? 'implicit TLS' : report.encryption === 'tls' ? 'STARTTLS' : 'plaintext'})`,
  );
  if (report.greeting !== null) out.push(`  greeting      ${report.greeting}`);
  if (report.capabilitiesBeforeTls) out.push(`  before TLS    ${report.capabilitiesBeforeTls.join(', ')}`);
  if (report.capabilities) out.push(`  capabilities  ${report.capabilities.join(', ')}`);
  if (report.tls) {
    const t = report.tls;
    out.push(`  tls           ${t.mode}, ${t.protocol ?? '?'}, ${t.cipher ?? '?'}`);
    if (t.certificate) {
      const c = t.certificate;
      out.push(`  certificate   subject ${c.subject}`);
      out.push(`                issuer  ${c.issuer}`);
      out.push(`                valid   ${c.validFrom} .. ${c.validTo}`);
      out.push(`                ${c.verified ? 'verified' : `NOT VERIFIED (shown only): ${c.verifyError ?? ''}`}`);
    }
  } else if (report.greeting !== null) {
    out.push('  tls           none: plaintext session');
  }
  out.push(`  auth mechs    ${report.authMechanisms.length ? report.authMechanisms.join(' ') : '(none advertised)'}`);
  if (report.auth)
    out.push(
      `  auth          ${report.auth.ok ? 'OK' : report.auth.attempted ? `FAILED: ${report.auth.error}` : `not attempted: ${report.auth.error}`}`,
    );
  const t = report.timings;
  const timing = [
    ['connect', t.connect],
    ['tls', t.tls],
    ['greeting', t.greeting],
    ['ehlo', t.ehlo],
    ['starttls', t.starttls],
    ['auth', t.auth],
    ['noop', t.noop],
    ['total', t.total],
  ]
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${ms(v as number)}`);
  out.push(`  timings       ${timing.join(', ')}`);
  if (report.checks.length) {
    out.push('  checks');
    for (const c of report.checks) out.push(`    ${MARK[c.status]}  ${c.name.padEnd(22)} ${c.reason}`);
  }
  if (report.error) out.push(`  error         ${report.error.code}: ${report.error.message}`);
  out.push(`  result        ${report.status}`);
  if (transcript) {
    out.push('  transcript');
    for (const e of transcript) out.push(`    ${e.direction === 'client' ? 'C:' : 'S:'} ${e.line}`);
  }
  return `${out.join('\n')}\n`;
}
