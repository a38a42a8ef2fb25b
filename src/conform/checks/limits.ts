/**
 * Bare CR / LF / NUL in commands, and the limits of RFC 5321 §4.5.3.1: command line, text line,
 * recipients, SIZE declared and enforced, unknown commands before a disconnect.
 *
 * Verdicts:
 * - `cmd-bare-lf` / `cmd-bare-cr`: `NOOP<x>NOOP\r\nQUIT\r\n` in one write. Two replies before the
 *   221 mean the bare character ended a command line → warn (RFC 5321 §2.3.8: only CRLF ends a
 *   line); one reply, or a hang-up → pass. `cmd-nul`: `EHLO` with a NUL in the domain: 250 → warn.
 * - `limit-command-line`: a 512-octet `NOOP` line (the RFC's maximum, CRLF included) must be
 *   accepted (else fail); a 20 000-octet line should be refused or cut off (accepted → warn).
 * - `limit-text-line`: a 1000-octet text line (998 + CRLF) in DATA must be accepted (else fail);
 *   a second message with a 20 000-octet line: refused → pass, accepted → warn.
 * - `limit-recipients`: 101 RCPTs (the operator's mailbox, or `postmaster`), never DATA. Fewer
 *   than 100 accepted before a 452 → fail (§4.5.3.1.8 requires 100); a limit at or above 100 → pass.
 * - `size-declared`: `MAIL … SIZE=<limit+1>` must be refused (552 → pass, other 5xx → pass with a
 *   note, accepted → fail). `size-enforced`: a body of limit + 1 KiB without a SIZE parameter must
 *   be refused (accepted → fail); only when the limit is at most 8 MiB (bounded run).
 * - `limit-unknown-commands`: unknown verbs one by one: a 2xx → fail; a hang-up within the
 *   configured number → pass; still talking after that many → warn (no error limit seen).
 */
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

async function commandLine(ctx: CheckContext): Promise<Verdict> {
  const session = await ctx.open();
  // 512 octets with the CRLF: the longest command line RFC 5321 §4.5.3.1.4 allows.
  const legal = await session.command(`NOOP ${'x'.repeat(512 - 7)}`);
  if (legal.code >= 400) return verdict.fail(`a 512-octet command line was refused: ${formatReply(legal)}`);
  session.write(`NOOP ${'x'.repeat(LONG)}\r\nQUIT\r\n`);
  const { replies, end } = await session.collect((r) => r.code === 221);
  const first = replies[0];
  if (!first || first.code === 221)
    return end === 'timeout'
      ? verdict.warn('inconclusive: no reply to a long line within the timeout')
      : verdict.pass(`512 octets accepted; a ${LONG}-octet line made the server hang up`);
  if (first.code >= 400) return verdict.pass(`512 octets accepted; ${LONG} octets refused (${formatReply(first)})`);
  return verdict.warn(`a ${LONG}-octet command line was accepted (${formatReply(first)}): no line length limit seen`);
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

/** Largest SIZE limit the enforcement check sends a body over (bounded run time and traffic). */
const MAX_ENFORCED_SIZE = 8 * 1024 * 1024;

async function sizeEnforced(ctx: CheckContext): Promise<Verdict> {
  const limit = ctx.info.size;
  if (limit === null || limit === 0) return verdict.skipped('no fixed SIZE limit advertised');
  if (limit > MAX_ENFORCED_SIZE)
    return verdict.skipped(`SIZE ${limit} is over ${MAX_ENFORCED_SIZE}: too large to send within the run budget`);
  const session = await ctx.open();
  const begun = await ctx.beginData(session);
  if (begun) return begun;
  const line = `${'s'.repeat(76)}\r\n`;
  const lines = Math.ceil((limit + 1024) / line.length);
  session.write(ctx.header('size-enforced'));
  session.write(line.repeat(lines), `(${lines} lines of 78 octets: ${lines * line.length} octets)`);
  session.write('.\r\nQUIT\r\n');
  const { replies, end } = await session.collect((r) => r.code === 221);
  const first = replies[0];
  if (!first || first.code === 221)
    return end === 'timeout'
      ? verdict.warn('inconclusive: no reply to the oversized message within the timeout')
      : verdict.pass('the server hung up on the oversized message');
  if (first.code >= 400) return verdict.pass(`a ${lines * line.length}-octet body refused: ${formatReply(first)}`);
  return verdict.fail(`a body over the advertised SIZE ${limit} was accepted: ${formatReply(first)}`);
}

async function unknownCommands(ctx: CheckContext): Promise<Verdict> {
  const session = await ctx.open();
  const limit = ctx.options.unknownCommandLimit;
  for (let i = 1; i <= limit; i++) {
    let reply: Reply;
    try {
      reply = await session.command(`XSMTPWIRE${i}`);
    } catch {
      if (session.closed) return verdict.pass(`the server hung up after ${i - 1} unknown commands`);
      throw new Error(`no reply to unknown command ${i}`);
    }
    if (reply.code < 400) return verdict.fail(`an unknown command was accepted: ${formatReply(reply)}`);
    if (reply.code === 421) return verdict.pass(`421 after ${i} unknown commands: ${formatReply(reply)}`);
  }
  return verdict.warn(`still answering after ${limit} unknown commands: no error limit seen`);
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
];
