/**
 * `smtpwire conform host[:port]`: the server conformance and security report (issue 17), as text,
 * JSON (`--json`) or JUnit XML (`--junit`, for CI). Exit 0 when every check passed, 1 with
 * warnings, 2 when a check failed or the server could not be reached.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CONFORM_CHECK_LIST, conform, formatConformJunit, formatConformText } from './api.js';
import {
  type CliIo,
  CONNECTION_OPTIONS,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_WARNINGS,
  positiveInt,
  serverOptions,
  UsageError,
} from './common.js';
import { CONFORM_DOMAIN_USAGE, conformDomainCommand } from './conform-domain.js';
import { showConformProgress } from './conform-progress.js';
import { toJsonText } from './json.js';

/** `smtpwire conform --help`. */
export const CONFORM_USAGE = `usage: smtpwire conform host[:port] [--encryption none|tls|ssl] [--ca FILE] [--insecure]
                       [--user U --pass-env VAR] [--auth-method M] [--name EHLO] [--sender ADDR]
                       [--rcpt ADDR] [--relay-test] [--only ID|GROUP]… [--timeout MS] [--check-timeout MS]
                       [--budget MS] [--json | --junit [--output FILE]] [-v] [--list]
  Tests the server's protocol handling: end-of-data (SMTP smuggling), bare CR/LF/NUL, STARTTLS
  and TLS, PIPELINING, limits, extensions, reply syntax; --relay-test adds an open-relay attempt
  (never DATA). Checks that send mail send only to --rcpt (a mailbox you own), and are skipped
  without it. Default: STARTTLS when offered, port 25. --starttls, --ssl and --plain also work.
  -v shows each check's evidence (bytes sent, lines received; secrets redacted).
${CONFORM_DOMAIN_USAGE}`;

/** Runs the conform command; resolves with the exit code. @throws UsageError. */
export async function conformCommand(argv: string[], io: CliIo): Promise<number> {
  // `--domain`: the domain scan, its own flags (src/cli/conform-domain.ts).
  if (argv.some((a) => a === '--domain' || a.startsWith('--domain='))) return conformDomainCommand(argv, io);
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...CONNECTION_OPTIONS,
      'auth-method': { type: 'string' },
      name: { type: 'string' },
      sender: { type: 'string' },
      rcpt: { type: 'string' },
      'relay-test': { type: 'boolean' },
      only: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      'check-timeout': { type: 'string' },
      budget: { type: 'string' },
      json: { type: 'boolean' },
      junit: { type: 'boolean' },
      output: { type: 'string' },
      list: { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
    },
  });
  if (values.list) {
    for (const c of CONFORM_CHECK_LIST)
      io.stdout.write(
        `${c.group.padEnd(16)} ${c.id.padEnd(28)} ${c.rfc}${c.sendsMail ? '  (sends mail to --rcpt)' : ''}\n`,
      );
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new UsageError('conform takes exactly one server: host[:port]');
  if (values.json && values.junit) throw new UsageError('choose one of --json and --junit');
  const options = {
    ...(await serverOptions(io, positionals[0], values)),
    ...(values.sender === undefined ? {} : { sender: values.sender }),
    ...(values.rcpt === undefined ? {} : { rcpt: values.rcpt }),
    ...(values['relay-test'] ? { relayTest: true } : {}),
    ...(values.only === undefined ? {} : { only: values.only }),
    ...(values.timeout === undefined ? {} : { replyTimeout: positiveInt('timeout', values.timeout, 0) }),
    ...(values['check-timeout'] === undefined
      ? {}
      : { checkTimeout: positiveInt('check-timeout', values['check-timeout'], 0) }),
    ...(values.budget === undefined ? {} : { budget: positiveInt('budget', values.budget, 0) }),
  };
  // On a terminal, each check is shown as it runs (not when stdout is a report for a program); started
  // after serverOptions, which may have asked for a password.
  const tty = io.stdout.isTTY === true && ((!values.json && !values.junit) || values.output !== undefined);
  const stopProgress = tty ? showConformProgress(io) : null;
  let report: Awaited<ReturnType<typeof conform>>;
  try {
    report = await conform(options);
  } finally {
    stopProgress?.();
  }
  const text = values.json
    ? toJsonText(report)
    : values.junit
      ? formatConformJunit(report)
      : formatConformText(report, { evidence: values.verbose === true });
  if (values.output !== undefined) writeFileSync(values.output, text);
  else io.stdout.write(text);
  const status = report.summary.status;
  return status === 'pass' ? EXIT_OK : status === 'warn' ? EXIT_WARNINGS : EXIT_FAILURE;
}
