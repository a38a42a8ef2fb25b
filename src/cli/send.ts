/**
 * `smtpwire send --from A --to B … host[:port]`: one message through `SmtpProtocolHandler`, printing
 * its DeliveryResult (as JSON with `--json`). Exit 0 delivered, 1 delivered with refused recipients,
 * 2 not delivered.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { type AttachmentInput, type DeliveryResult, SmtpProtocolHandler, escapeTerminalText as t } from './api.js';
import {
  type CliIo,
  CONNECTION_OPTIONS,
  ENCRYPTION_USAGE,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_WARNINGS,
  encryptionFlag,
  parseTarget,
  readPassword,
  tlsFlags,
  UsageError,
} from './common.js';
import { DKIM_SEND_OPTIONS, DKIM_SEND_USAGE, dkimFromFlags } from './dkim.js';
import { deliveryResultJson, toJsonText } from './json.js';

/** `smtpwire send --help`. */
export const SEND_USAGE = `usage: smtpwire send --from A --to B [--to C]… [--cc X]… [--bcc Y]… [--subject S]
                    [--text T | --text-file F] [--html-file F] [--attach FILE]… [--header 'Name: value']…
                    ${ENCRYPTION_USAGE} [--ca FILE] [--insecure]
                    [--user U --pass-env VAR] [--chunking] [--json] [-v] host[:port]
                    ${DKIM_SEND_USAGE}
  Default: --encryption tls (STARTTLS required, port 587); --plain for a local test server (port 25).`;

/** Runs the send command; resolves with the exit code. @throws UsageError. */
export async function sendCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...CONNECTION_OPTIONS,
      from: { type: 'string' },
      to: { type: 'string', multiple: true },
      cc: { type: 'string', multiple: true },
      bcc: { type: 'string', multiple: true },
      subject: { type: 'string', default: '' },
      text: { type: 'string' },
      'text-file': { type: 'string' },
      'html-file': { type: 'string' },
      attach: { type: 'string', multiple: true },
      header: { type: 'string', multiple: true },
      chunking: { type: 'boolean' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
      ...DKIM_SEND_OPTIONS,
    },
  });
  if (positionals.length !== 1) throw new UsageError('send takes exactly one server: host[:port]');
  if (values.from === undefined) throw new UsageError('--from is required');
  if (!values.to?.length) throw new UsageError('at least one --to is required');
  if (values.text !== undefined && values['text-file'] !== undefined)
    throw new UsageError('choose one of --text and --text-file');
  const target = parseTarget(positionals[0]);
  const encryption = encryptionFlag(values) ?? 'tls';
  const password = await readPassword(io, values.user, values['pass-env']);
  const textBody = values['text-file'] !== undefined ? readFileSync(values['text-file'], 'utf8') : values.text;
  const htmlBody = values['html-file'] !== undefined ? readFileSync(values['html-file'], 'utf8') : undefined;
  const attachments: AttachmentInput[] = (values.attach ?? []).map((path) => ({ filename: basename(path), path }));
  const customHeaders: Record<string, string> = {};
  for (const h of values.header ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new UsageError(`--header must be 'Name: value', not ${JSON.stringify(h)}`);
    customHeaders[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  const tls = tlsFlags(values);
  const dkim = dkimFromFlags(values);
  const handler = new SmtpProtocolHandler({
    hostname: target.host,
    encryption,
    poolSize: 1,
    ...(target.port === undefined ? {} : { port: target.port }),
    ...(tls === undefined ? {} : { tls }),
    ...(values.user === undefined ? {} : { username: values.user }),
    ...(password === undefined ? {} : { password }),
    ...(values.chunking ? { chunking: true } : {}),
    ...(dkim === undefined ? {} : { dkim }),
    retryPolicy: { maxRetries: 0 },
    ...(values.verbose
      ? { onTranscript: (e) => io.stderr.write(`${e.direction === 'client' ? 'C:' : 'S:'} ${t(e.line)}\n`) }
      : {}),
  });
  let result: DeliveryResult;
  try {
    result = await handler.sendMessage({
      fromAddress: values.from,
      toAddresses: values.to,
      ...(values.cc ? { ccAddresses: values.cc } : {}),
      ...(values.bcc ? { bccAddresses: values.bcc } : {}),
      subject: values.subject,
      ...(textBody === undefined ? {} : { textBody }),
      ...(htmlBody === undefined ? {} : { htmlBody }),
      ...(attachments.length ? { attachments } : {}),
      ...(Object.keys(customHeaders).length ? { customHeaders } : {}),
      retry: false,
    });
  } finally {
    await handler.close();
  }
  if (values.json) io.stdout.write(toJsonText(deliveryResultJson(result)));
  else io.stdout.write(formatResult(result));
  if (result.status !== 'success') return EXIT_FAILURE;
  return Object.keys(result.recipientFailures).length > 0 ? EXIT_WARNINGS : EXIT_OK;
}

/** The DeliveryResult as a few lines of text; server-derived strings through the terminal escaper. */
export function formatResult(r: DeliveryResult): string {
  const lines = [`status      ${r.status}`, `message-id  ${t(r.messageId ?? '-')}`];
  if (r.smtpError) {
    // smtpError is the whole reply ("530 5.7.0 Authentication required") or an error message: print
    // it once, with the code only when the text does not start with it.
    const text =
      r.smtpCode !== null && !r.smtpError.startsWith(String(r.smtpCode)) ? `${r.smtpCode} ${r.smtpError}` : r.smtpError;
    lines.push(`${r.smtpCode === null ? 'error ' : 'reply '}      ${t(text)}`);
  } else if (r.smtpCode !== null) {
    const response = (r as { response?: string | null }).response;
    lines.push(`reply       ${t(response ?? `${r.smtpCode}${r.enhancedCode ? ` ${r.enhancedCode}` : ''}`)}`);
  }
  if (r.acceptedRecipients?.length) lines.push(`accepted    ${t(r.acceptedRecipients.join(', '))}`);
  for (const [rcpt, why] of Object.entries(r.recipientFailures)) lines.push(`refused     ${t(rcpt)}: ${t(why)}`);
  return `${lines.join('\n')}\n`;
}
