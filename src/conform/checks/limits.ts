/**
 * Bare CR / LF / NUL in commands, and the limits of RFC 5321 §4.5.3.1: command line, text line,
 * recipients, SIZE declared and enforced, unknown commands before a disconnect.
 *
 * Verdicts:
 * - `cmd-bare-lf` / `cmd-bare-cr`: `NOOP<x>NOOP\r\nQUIT\r\n` in one write. Two replies before the
 *   221 mean the bare character ended a command line → warn (RFC 5321 §2.3.8: only CRLF ends a
 *   line); one reply, or a hang-up → pass. `cmd-nul`: `EHLO` with a NUL in the domain: 250 → warn.
 * - `limit-command-line`: a 512-octet `NOOP` line (the RFC's maximum, CRLF included) must be
 *   accepted (else fail). Then one 20 000-octet `MAIL` line (spaces, then an unsupported parameter at
 *   its end) and `QUIT`, every reply read: two or more replies before the 221 → fail (the server split
 *   the line and ran its rest as a command: a desync); refused for its length, or a hang-up → pass;
 *   555 for the tail parameter → warn (the whole line was read: no limit); accepted → warn (the line
 *   was cut silently and its tail dropped).
 * - `limit-text-line`: a 1000-octet text line (998 + CRLF) in DATA must be accepted (else fail);
 *   a second message with a 20 000-octet line: refused → pass, accepted → warn.
 * - `limit-recipients`: 101 RCPTs (the operator's mailbox, or `postmaster`), never DATA. Fewer
 *   than 100 accepted before a 452 → fail (§4.5.3.1.8 requires 100); a limit at or above 100 → pass.
 * - `size-declared`: `MAIL … SIZE=<limit+1>` must be refused (552 → pass, other 5xx → pass with a
 *   note, accepted → fail). `size-enforced`: a body of 998-octet lines over the limit by 4 KiB even
 *   counted without CRs (as Exim counts), sent without a SIZE parameter and streamed, must be refused
 *   (accepted → fail); for limits up to 64 MiB (the usual 10,240,000 included).
 * - `limit-unknown-commands`: unknown verbs one by one: a 2xx → fail; a hang-up within the
 *   configured number → pass; still talking after that many → warn (no error limit seen).
 * - `cmd-unknown`: one made-up verb: 500 or 502 → pass; another 4xx/5xx → warn; accepted → fail.
 */
import { ProtocolError, TimeoutError } from '../../errors.js';
import { formatReply, type Reply } from '../../protocol/reply.js';
import type { CheckContext, CheckDef, Verdict } from '../context.js';
import { codes, verdict } from '../context.js';

async function bareInCommand(ctx: CheckContext, character: string, what: string): Promise<Verdict> {
  const session = await ctx.open();
  session.write(`NOOP${character}NOOP\r\nQUIT\r\n`);
  const { replies, end } = await session.collect((r) => r.code === 221);
  const before = end === 'until' ? replies.slice(0, -1) : replies;
  if (before.length === 0)
    return end === 'timeout'
      ? verdict.warn('inconclusive: no reply within the timeout')
      : verdict.pass(`the server closed the connection on ${what}`);
  if (before.length >= 2) return verdict.warn(`${what} ended a command line: two NOOPs answered (${codes(before)})`);
  if (before[0]!.code >= 400) return verdict.pass(`a line with ${what} was refused (${formatReply(before[0]!)})`);
  return verdict.pass(`${what} did not end the command line: one reply (${codes(before)})`);
}

async function nulInCommand(ctx: CheckContext): Promise<Verdict> {
  const session = await ctx.open();
  const reply = await session.command(`EHLO smtpwire\0conform`);
  if (reply.code === 250) return verdict.warn('EHLO with a NUL in the domain was accepted (250)');
  return verdict.pass(`a NUL in a command was refused: ${formatReply(reply)}`);
}

const LONG = 20_000;

/** The parameter at the end of the long MAIL line: refused (555) only by a server that read that far. */
const TAIL_PARAMETER = 'XSMTPWIRE-TAIL=1';

async function commandLine(ctx: CheckContext): Promise<Verdict> {
  const session = await ctx.open();
  // 512 octets with the CRLF: the longest command line RFC 5321 §4.5.3.1.4 allows.
  const legal = await session.command(`NOOP ${'x'.repeat(512 - 7)}`);
  if (legal.code >= 400) return verdict.fail(`a 512-octet command line was refused: ${formatReply(legal)}`);
  // One long MAIL line: spaces, then a parameter nobody supports. Its reply tells how far the server
  // read: 555 (the whole line), 250 (cut before the tail: the tail was dropped silently), a refusal
  // of the length; and every reply up to QUIT's 221 is read, because a server that splits the line
  // answers twice — it ran the rest as a command of its own (a desync: Exim past 16 KiB).
  const head = `MAIL FROM:<${ctx.options.sender}>`;
  const pad = LONG - head.length - TAIL_PARAMETER.length - 3;
  session.write(
    `${head}${' '.repeat(pad)} ${TAIL_PARAMETER}\r\nQUIT\r\n`,
    `${head} + ${pad} spaces + ' ${TAIL_PARAMETER}\\r\\n' (${LONG} octets), QUIT\\r\\n`,
  );
  const { replies, end } = await session.collect((r) => r.code === 221);
  const before = end === 'until' ? replies.slice(0, -1) : replies;
  const first = before[0];
  if (before.length >= 2)
    return verdict.fail(
      `one ${LONG}-octet line got ${before.length} replies (${codes(before)}): the server split it and ran the rest ` +
        'as another command (a desync, and a command-injection path)',
    );
  if (!first)
    return end === 'timeout'
      ? verdict.warn('inconclusive: no reply to a long line within the timeout')
      : verdict.pass(`512 octets accepted; a ${LONG}-octet line made the server hang up`);
  if (first.code === 530 || first.enhanced?.startsWith('5.7.') === true || first.code === 503)
    return verdict.warn(`inconclusive: MAIL refused before the line length could be judged (${formatReply(first)})`);
  if (first.code === 555)
    return verdict.warn(
      `the whole ${LONG}-octet line was read (its last parameter refused: ${formatReply(first)}): no line length limit seen`,
    );
  if (first.code >= 400) return verdict.pass(`512 octets accepted; ${LONG} octets refused (${formatReply(first)})`);
  return verdict.warn(
    `a ${LONG}-octet MAIL line was accepted without its last parameter (${formatReply(first)}): the server cut the ` +
      'line silently and dropped the rest (Postfix does at line_length_limit, 2,048)',
  );
}

async function textLine(ctx: CheckContext): Promise<Verdict> {
  const session = await ctx.open();
  let begun = await ctx.beginData(session);
  if (begun) return begun;
  session.write(`${ctx.header('limit-text-line')}${'y'.repeat(998)}\r\n.\r\n`);
  const legal = await session.read();
  if (legal.code >= 400) return verdict.fail(`a 1000-octet text line was refused: ${formatReply(legal)}`);
  begun = await ctx.beginData(session);
  if (begun) return begun;
  session.write(`${ctx.header('limit-text-line', ' (long line)')}${'z'.repeat(LONG)}\r\n.\r\nQUIT\r\n`);
  const { replies, end } = await session.collect((r) => r.code === 221);
  const first = replies[0];
  if (!first || first.code === 221)
    return end === 'timeout'
      ? verdict.warn('inconclusive: no reply to the long line within the timeout')
      : verdict.pass(`1000 octets accepted; the server hung up on a ${LONG}-octet line`);
  if (first.code >= 400)
    return verdict.pass(`1000 octets accepted; a ${LONG}-octet line refused (${formatReply(first)})`);
  return verdict.warn(
    `1000 octets accepted; a ${LONG}-octet text line was accepted too (${formatReply(first)}): split or passed on`,
  );
}

async function recipients(ctx: CheckContext): Promise<Verdict> {
  const session = await ctx.open();
  const rcpt = ctx.options.rcpt ?? 'postmaster';
  const mail = await session.command(`MAIL FROM:<${ctx.options.sender}>`);
  if (mail.code !== 250) return verdict.warn(`inconclusive: MAIL answered ${formatReply(mail)}`);
  let accepted = 0;
  const count = 101;
  if (ctx.info.pipelining) {
    session.write(`RCPT TO:<${rcpt}>\r\n`.repeat(count), `RCPT TO:<${rcpt}>\\r\\n × ${count}`);
  }
  for (let i = 0; i < count; i++) {
    const reply = ctx.info.pipelining ? await session.read() : await session.command(`RCPT TO:<${rcpt}>`);
    if (reply.code === 250 || reply.code === 251) accepted++;
    else if (accepted === 0) return verdict.warn(`inconclusive: the first RCPT answered ${formatReply(reply)}`);
    else if (!ctx.info.pipelining) break;
  }
  await session.command('RSET');
  if (accepted >= count) return verdict.pass(`all ${count} recipients accepted (no limit at or below ${count})`);
  if (accepted >= 100) return verdict.pass(`${accepted} recipients accepted, then refused: limit ≥ 100`);
  return verdict.fail(`only ${accepted} recipients accepted: RFC 5321 §4.5.3.1.8 requires at least 100`);
}

async function sizeDeclared(ctx: CheckContext): Promise<Verdict> {
  const limit = ctx.info.size;
  if (limit === null) return verdict.skipped('SIZE not advertised');
  if (limit === 0) return verdict.skipped('SIZE advertised without a fixed limit');
  const session = await ctx.open();
  const reply = await session.command(`MAIL FROM:<${ctx.options.sender}> SIZE=${limit + 1}`);
  if (reply.code === 552 || reply.enhanced === '5.3.4')
    return verdict.pass(`SIZE=${limit + 1} refused: ${formatReply(reply)}`);
  if (reply.code >= 500) return verdict.pass(`SIZE=${limit + 1} refused, though not with 552: ${formatReply(reply)}`);
  if (reply.code >= 400) return verdict.warn(`SIZE=${limit + 1} refused only temporarily: ${formatReply(reply)}`);
  return verdict.fail(`MAIL with SIZE=${limit + 1} over the advertised ${limit} was accepted: ${formatReply(reply)}`);
}

/**
 * Largest SIZE limit the enforcement check sends a body over. The body is streamed with backpressure
 * (never held whole), so the usual 10,240,000 runs in about a second on loopback; over a slow link
 * the check's timeout still bounds it (then the verdict is inconclusive).
 */
const MAX_ENFORCED_SIZE = 64 * 1024 * 1024;

/** Longest legal text line (998 + CRLF): few CRs, so the overshoot survives a server that counts without them. */
const SIZE_LINE = `${'s'.repeat(998)}\r\n`;

async function sizeEnforced(ctx: CheckContext): Promise<Verdict> {
  const limit = ctx.info.size;
  if (limit === null || limit === 0) return verdict.skipped('no fixed SIZE limit advertised');
  if (limit > MAX_ENFORCED_SIZE)
    return verdict.skipped(`SIZE ${limit} is over ${MAX_ENFORCED_SIZE}: too large to send within the run budget`);
  const session = await ctx.open();
  const begun = await ctx.beginData(session);
  if (begun) return begun;
  // Over the limit by 4 KiB even counted without the CR of every CRLF (Exim counts that way).
  const lines = Math.ceil((limit + 4096) / (SIZE_LINE.length - 1));
  const total = lines * SIZE_LINE.length;
  session.write(ctx.header('size-enforced'));
  const written = await session.writeRepeated(
    SIZE_LINE,
    lines,
    `(${lines} lines of ${SIZE_LINE.length} octets: ${total} octets, ${total - lines} without CRs)`,
  );
  if (written < total && session.pending === 0 && !session.closed)
    return verdict.warn(`inconclusive: only ${written} of ${total} octets could be sent within the check's time`);
  session.write('.\r\nQUIT\r\n');
  const { replies, end } = await session.collect((r) => r.code === 221);
  const first = replies[0];
  if (!first || first.code === 221)
    return end === 'timeout'
      ? verdict.warn('inconclusive: no reply to the oversized message within the timeout')
      : verdict.pass('the server hung up on the oversized message');
  if (first.code >= 400)
    return verdict.pass(
      `a body of ${total} octets (${total - lines} without CRs) over SIZE ${limit} refused: ${formatReply(first)}`,
    );
  return verdict.fail(
    `a body of ${total} octets (${total - lines} without CRs) over the advertised SIZE ${limit} was accepted: ${formatReply(first)}`,
  );
}

async function unknownCommands(ctx: CheckContext): Promise<Verdict> {
  const session = await ctx.open();
  const limit = ctx.options.unknownCommandLimit;
  for (let i = 1; i <= limit; i++) {
    let reply: Reply;
    try {
      reply = await session.command(`XSMTPWIRE${i}`);
    } catch (err) {
      // A close, a reset or a TLS socket error (over TLS a hang-up often arrives as an error first) is
      // the server hanging up; only silence (a timeout) or a malformed reply is not.
      if (session.closed || !(err instanceof TimeoutError || err instanceof ProtocolError))
        return verdict.pass(`the server hung up after ${i - 1} unknown commands`);
      throw new Error(`no reply to unknown command ${i}`);
    }
    if (reply.code < 400) return verdict.fail(`an unknown command was accepted: ${formatReply(reply)}`);
    if (reply.code === 421) return verdict.pass(`421 after ${i} unknown commands: ${formatReply(reply)}`);
  }
  return verdict.warn(`still answering after ${limit} unknown commands: no error limit seen`);
}

async function unknownCommand(ctx: CheckContext): Promise<Verdict> {
  const session = await ctx.open();
  const reply = await session.command('XSMTPWIREPROBE');
  if (reply.code === 500 || reply.code === 502) return verdict.pass(`unknown command answered ${formatReply(reply)}`);
  if (reply.code >= 400)
    return verdict.warn(`unknown command answered ${formatReply(reply)} (expected 500, RFC 5321 §4.2.4)`);
  return verdict.fail(`an unknown command was accepted: ${formatReply(reply)}`);
}

/** The checks of this module. */
export const LIMIT_CHECKS: readonly CheckDef[] = [
  {
    id: 'cmd-bare-lf',
    group: 'bare-characters',
    rfc: 'RFC 5321 §2.3.8',
    run: (ctx) => bareInCommand(ctx, '\n', 'a bare LF'),
  },
  {
    id: 'cmd-bare-cr',
    group: 'bare-characters',
    rfc: 'RFC 5321 §2.3.8',
    run: (ctx) => bareInCommand(ctx, '\r', 'a bare CR'),
  },
  { id: 'cmd-nul', group: 'bare-characters', rfc: 'RFC 5321 §4.1.2', run: nulInCommand },
  { id: 'limit-command-line', group: 'limits', rfc: 'RFC 5321 §4.5.3.1.4', run: commandLine },
  { id: 'limit-text-line', group: 'limits', rfc: 'RFC 5321 §4.5.3.1.6', needs: 'rcpt', run: textLine },
  { id: 'limit-recipients', group: 'limits', rfc: 'RFC 5321 §4.5.3.1.8', run: recipients },
  { id: 'size-declared', group: 'limits', rfc: 'RFC 1870 §6', run: sizeDeclared },
  { id: 'size-enforced', group: 'limits', rfc: 'RFC 1870 §6', needs: 'rcpt', run: sizeEnforced },
  { id: 'limit-unknown-commands', group: 'limits', rfc: 'RFC 5321 §4.2.4, §7.8', run: unknownCommands },
  { id: 'cmd-unknown', group: 'limits', rfc: 'RFC 5321 §4.2.4', run: unknownCommand },
];
