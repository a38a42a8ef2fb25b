/**
 * `smtpwire sink [--port P] [--host H] [--json] [--maildir DIR] [--quiet]`: a local SMTP server that
 * accepts everything (the scripted server of `smtpwire/testing`, correct by default). Used by
 * `bench --sink` (with `--quiet`); handy on its own. Prints `smtpwire sink listening on HOST port N`
 * first, then a line per message received (time, number, size, sender, recipients, Subject and
 * Message-ID, every peer-supplied string escaped), and at the end `smtpwire sink stopped after N
 * messages`. With `--json`, one JSON line per event: `{"event":"listening","host","port"}`,
 * `{"event":"message",…}`, `{"event":"stopped","messages"}`. With `--maildir DIR` each message is
 * delivered into the Maildir DIR before it is answered (250 only once it is on disk; 451 when it
 * could not be stored). Runs until SIGTERM or SIGINT.
 */
import { parseArgs } from 'node:util';
import { headerBlock, readMessageId } from '../message/prepare.js';
import { type MessageRecord, startScriptedServer } from '../testing/index.js';
import { escapeClipped as escapeText } from '../util/terminal-text.js';
import { type CliIo, UsageError } from './common.js';
import { toJsonLine } from './json.js';
import { deliverToMaildir, prepareMaildir } from './maildir.js';

/** Forget recorded sessions and messages this often, so a long run keeps memory bounded. */
const FORGET_EVERY_MS = 1000;
/** Output waiting for a slow reader beyond this is dropped (counted), so memory stays bounded. */
const MAX_PENDING_OUTPUT = 1024 * 1024;

/** `smtpwire sink --help`. */
export const SINK_USAGE =
  'usage: smtpwire sink [--host 127.0.0.1] [--port 2525] [--json] [--maildir DIR] [--quiet]\n' +
  '  port 0: any free port; --json: JSON lines; --maildir: keep each message in the Maildir DIR\n' +
  '  (tmp/ → new/, answered 250 once on disk); --quiet: no line per message';

/** What the sink shows of one message. */
interface Shown {
  n: number;
  session: number;
  queueId: string;
  from: string;
  to: string[];
  size: number;
  via: 'DATA' | 'BDAT';
  tls: boolean;
  subject: string | null;
  messageId: string | null;
  file: string | null;
  stored: boolean | null;
  error: string | null;
}

/** Subject (unfolded; encoded-words left as they are) and Message-ID, from the header block. */
function headerFields(data: Buffer): { subject: string | null; messageId: string | null } {
  const unfolded = headerBlock(data, 'utf8').replace(/\r?\n[ \t]+/g, ' ');
  const subject = /^Subject:[ \t]*(.*)$/im.exec(unfolded);
  return { subject: subject ? subject[1]!.trim() : null, messageId: readMessageId(data) };
}

/** One text line: every string that came from the client is escaped. */
function textLine(m: Shown): string {
  const time = new Date().toISOString().slice(11, 19);
  const to = m.to.length === 0 ? '-' : `${escapeText(m.to[0]!, 80)}${m.to.length > 1 ? ` (+${m.to.length - 1})` : ''}`;
  const parts = [
    `${time} #${m.n}`,
    `${m.size} B via ${m.via}${m.tls ? ' TLS' : ''}`,
    `from <${escapeText(m.from, 80)}> to ${to}`,
    m.subject === null ? 'no Subject' : `Subject: ${escapeText(m.subject, 80)}`,
  ];
  if (m.messageId !== null) parts.push(escapeText(m.messageId, 100));
  if (m.file !== null) parts.push(`→ ${m.file}`);
  if (m.error !== null) parts.push(`NOT STORED (451): ${escapeText(m.error, 120)}`);
  return `${parts.join('  ')}\n`;
}

/** Runs until a signal; resolves with exit code 0. */
export async function sinkCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '2525' },
      json: { type: 'boolean' },
      maildir: { type: 'string' },
      quiet: { type: 'boolean' },
    },
  });
  if (positionals.length) throw new UsageError('sink takes no positional argument');
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535) throw new UsageError('--port must be 0..65535');
  const maildir = values.maildir;
  if (maildir !== undefined) {
    if (maildir === '') throw new UsageError('--maildir needs a directory');
    await prepareMaildir(maildir);
  }
  let shown = 0;
  // Messages read but refused (552 over the size cap, 451 not stored): not counted as received.
  let refused = 0;
  let dropped = 0;
  const print = (line: string): void => {
    // A reader that does not keep up loses lines, never the sink its memory.
    if (((io.stdout as { writableLength?: number }).writableLength ?? 0) > MAX_PENDING_OUTPUT) dropped++;
    else io.stdout.write(line);
  };
  const report = (m: Shown): void => {
    if (values.quiet) return;
    print(values.json ? toJsonLine({ event: 'message', ...m }) : textLine(m));
  };
  /** A message read and not yet answered, by session (onMessage and its onCommand run in one go). */
  const waiting = new Map<number, MessageRecord>();
  // No SIZE cap beyond 1 GiB: a sink for benchmarks, not a policy server.
  const server = await startScriptedServer({
    host: values.host,
    port,
    maxMessageSize: 1024 * 1024 * 1024,
    maxRecipients: 1000,
    record: false,
    onMessage: (m) => {
      if (m.oversize) refused++;
      else if (maildir !== undefined || !values.quiet) waiting.set(m.session, m);
    },
    // The end of a message: store it (with --maildir) and show it before the server answers.
    onCommand: async (session, _line, event) => {
      if (event !== 'DATA_END' && event !== 'BDAT_LAST') return undefined;
      const m = waiting.get(session.id);
      if (m === undefined) return undefined;
      waiting.delete(session.id);
      const shownMessage: Shown = {
        n: ++shown,
        session: m.session,
        queueId: m.queueId,
        from: m.mailFrom,
        to: m.rcptTo,
        size: m.data.length,
        via: m.via,
        tls: m.tls,
        ...headerFields(m.data),
        file: null,
        stored: maildir === undefined ? null : false,
        error: null,
      };
      if (maildir !== undefined) {
        try {
          shownMessage.file = await deliverToMaildir(maildir, m.mailFrom, m.data);
          shownMessage.stored = true;
        } catch (err) {
          shownMessage.error = (err as Error).message;
          report(shownMessage);
          refused++;
          return { reply: '451 4.3.0 The message could not be stored' };
        }
      }
      report(shownMessage);
      return undefined;
    },
  });
  const forget = setInterval(() => server.reset(), FORGET_EVERY_MS);
  io.stdout.write(
    values.json
      ? toJsonLine({ event: 'listening', host: server.host, port: server.port })
      : `smtpwire sink listening on ${server.host} port ${server.port}${maildir === undefined ? '' : `, delivering to the Maildir ${escapeText(maildir)}`}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  clearInterval(forget);
  const messages = server.messageCount - refused;
  await server.close();
  io.stdout.write(
    values.json
      ? toJsonLine({ event: 'stopped', messages, ...(dropped > 0 ? { linesDropped: dropped } : {}) })
      : `smtpwire sink stopped after ${messages} messages${dropped > 0 ? ` (${dropped} lines not shown: output too slow)` : ''}\n`,
  );
  return 0;
}
