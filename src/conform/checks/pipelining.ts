/**
 * PIPELINING (RFC 2920) and the early talker.
 *
 * Verdicts:
 * - `pipelining-mail-rcpt-data`: with the operator's mailbox, `MAIL`, `RCPT`, `DATA` in one write
 *   (then the connection is closed after the 354: the transaction is aborted, nothing delivered);
 *   without it, `MAIL`, `RCPT TO:<postmaster>`, `RSET`. Three replies in order, the last one 354 (or
 *   250 for RSET) → pass; a missing reply → fail; MAIL refused → warn (inconclusive).
 * - `pipelining-reply-order`: `RSET`, an unknown verb, `NOOP` in one write must be answered
 *   2xx, 5xx, 2xx in that order → else fail.
 * - `early-talker`: `EHLO` written the moment the connection opens, before the greeting. A server
 *   that refuses the session (5xx greeting or a hang-up) → pass; one that answers as usual → warn
 *   (RFC 5321 §3.1 has the client wait for the greeting; refusing early talkers is a common
 *   anti-spam defence, e.g. Postfix postscreen's pregreet test). Done on the first channel
 *   (plaintext, or implicit TLS right after the handshake).
 */
import { formatReply } from '../../protocol/reply.js';
import type { CheckContext, CheckDef, Verdict } from '../context.js';
import { codes, verdict } from '../context.js';

async function mailRcptData(ctx: CheckContext): Promise<Verdict> {
  if (!ctx.info.pipelining) return verdict.skipped('PIPELINING not advertised');
  const session = await ctx.open();
  const { sender, rcpt } = ctx.options;
  const last = rcpt === null ? 'RSET' : 'DATA';
  session.write(`MAIL FROM:<${sender}>\r\nRCPT TO:<${rcpt ?? 'postmaster'}>\r\n${last}\r\n`);
  const replies = [];
  for (let i = 0; i < 3; i++) {
    try {
      replies.push(await session.read());
    } catch (err) {
      return verdict.fail(
        `pipelined commands not answered: only ${i} of 3 replies (${codes(replies)}): ${(err as Error).message}`,
      );
    }
  }
  const [mail, rcptReply, final] = replies as [(typeof replies)[0], (typeof replies)[0], (typeof replies)[0]];
  // Closing now, after a 354, aborts the transaction: nothing is delivered (RFC 5321 §3.8).
  session.destroy();
  if (mail.code !== 250) return verdict.warn(`inconclusive: MAIL answered ${formatReply(mail)}`);
  const want = last === 'DATA' ? (rcptReply.code < 300 ? 354 : final.code) : 250;
  if (final.code !== want)
    return verdict.fail(`MAIL/RCPT/${last} in one write: the third reply was ${formatReply(final)}`);
  return verdict.pass(`MAIL/RCPT/${last} in one write answered in order (${codes(replies)})`);
}

async function replyOrder(ctx: CheckContext): Promise<Verdict> {
  if (!ctx.info.pipelining) return verdict.skipped('PIPELINING not advertised');
  const session = await ctx.open();
  session.write('RSET\r\nXSMTPWIRE-ORDER\r\nNOOP\r\n');
  const replies = [await session.read(), await session.read(), await session.read()];
  const classes = replies.map((r) => Math.floor(r.code / 100)).join('');
  if (classes === '252') return verdict.pass(`RSET, unknown verb, NOOP answered in order (${codes(replies)})`);
  return verdict.fail(`RSET, unknown verb, NOOP answered ${codes(replies)}: expected 2xx 5xx 2xx`);
}

async function earlyTalker(ctx: CheckContext): Promise<Verdict> {
  const session = await ctx.connect();
  session.write(`EHLO ${ctx.options.clientName}\r\n`);
  const { replies, end } = await session.collect((r) => r.code !== 220, 2);
  const [greeting, ehlo] = replies;
  if (!greeting)
    return end === 'timeout'
      ? verdict.warn('inconclusive: no greeting within the timeout')
      : verdict.pass('the server hung up on a client that talked before the greeting');
  if (greeting.code !== 220) return verdict.pass(`early talker refused: ${formatReply(greeting)}`);
  if (!ehlo)
    return end === 'closed'
      ? verdict.pass('greeted, then hung up on the early talker')
      : verdict.warn('greeted, then no reply to the early EHLO within the timeout');
  if (ehlo.code >= 400) return verdict.pass(`the early EHLO was refused: ${formatReply(ehlo)}`);
  return verdict.warn('a command sent before the greeting was answered as usual: no early-talker defence');
}

/** The checks of this module. */
export const PIPELINING_CHECKS: readonly CheckDef[] = [
  { id: 'pipelining-mail-rcpt-data', group: 'pipelining', rfc: 'RFC 2920 §3.1', run: mailRcptData },
  { id: 'pipelining-reply-order', group: 'pipelining', rfc: 'RFC 2920 §3.1', run: replyOrder },
  { id: 'early-talker', group: 'pipelining', rfc: 'RFC 5321 §3.1, §4.3.1', run: earlyTalker },
];
