/**
 * End-of-data handling (SMTP smuggling) and bare CR / LF / NUL inside DATA.
 *
 * How an end-of-data verdict is reached (each variant is its own check, id naming the bytes):
 *   1. MAIL FROM the sender, RCPT TO the operator's own mailbox, DATA → 354.
 *   2. One write: a header and `part one`, then the variant (e.g. `\n.\n`), then a smuggled
 *      transaction — `MAIL FROM:<sender>`, `RCPT TO:<the same operator mailbox>`, `DATA`, a second
 *      header and body — then the real end `\r\n.\r\n`, then `QUIT`.
 *   3. Read replies until the 221 of QUIT (or the server closes, or the reply timeout).
 *   - Exactly one reply before the 221: the server read the variant as data (2xx: one message
 *     with the variant inside it) or refused the message (4xx/5xx) → **pass**.
 *   - No reply, connection closed: the server hung up on the variant → **pass** (refused).
 *   - More than one reply before the 221: the server ended DATA at the variant and answered the
 *     smuggled commands (`250 250 250 354 250`: it accepted a second, smuggled message) → **fail**.
 *   - No reply at all before the timeout → **warn** (inconclusive).
 * The `eod-lf-only-*` variants write the whole message (and the smuggled commands) with bare-LF line
 * ends, the framing in which some servers (Exim 4.96) accept a lone `\n.\n` as the end.
 * The smuggled message can only reach the operator's own mailbox: nothing goes to a third party.
 * A real MTA that ends DATA at the variant while the next hop does not is how smuggled mail gets
 * through SPF/DMARC (SEC Consult, December 2023); RFC 5321 §4.1.1.4 defines the end as CRLF.CRLF.
 */
import type { CheckContext, CheckDef, Verdict } from '../context.js';
import { codes, verdict } from '../context.js';
import type { ConformCheckId } from '../types.js';

/** Each end-of-data variant: id and exact bytes (the line end before the dot included). */
export const EOD_VARIANTS: readonly { id: ConformCheckId; bytes: string; framing?: 'lf' }[] = Object.freeze([
  { id: 'eod-lf-dot-lf', bytes: '\n.\n' },
  { id: 'eod-lf-dot-crlf', bytes: '\n.\r\n' },
  { id: 'eod-cr-dot-cr', bytes: '\r.\r' },
  { id: 'eod-crlf-dot-cr', bytes: '\r\n.\r' },
  { id: 'eod-cr-dot-lf', bytes: '\r.\n' },
  { id: 'eod-crlf-dot-lf', bytes: '\r\n.\n' },
  { id: 'eod-lf-dot-cr', bytes: '\n.\r' },
  { id: 'eod-cr-dot-crlf', bytes: '\r.\r\n' },
  // NUL and whitespace around the dot: parsers that strip them see a lone dot.
  { id: 'eod-crlf-nul-dot-crlf', bytes: '\r\n\0.\r\n' },
  { id: 'eod-crlf-dot-nul-crlf', bytes: '\r\n.\0\r\n' },
  { id: 'eod-crlf-sp-dot-crlf', bytes: '\r\n .\r\n' },
  { id: 'eod-crlf-dot-sp-crlf', bytes: '\r\n. \r\n' },
  // The whole message in LF-only line ends: some servers switch to LF framing then (Exim 4.96 ends
  // DATA at \n.\n only in that framing, so the CRLF-framed variants above never show it).
  { id: 'eod-lf-only-lf-dot-lf', bytes: '\n.\n', framing: 'lf' },
  { id: 'eod-lf-only-lf-dot-crlf', bytes: '\n.\r\n', framing: 'lf' },
]);

async function smuggle(
  ctx: CheckContext,
  id: ConformCheckId,
  variant: string,
  framing: 'crlf' | 'lf',
): Promise<Verdict> {
  const session = await ctx.open();
  const begun = await ctx.beginData(session);
  if (begun) return begun;
  const { sender, rcpt } = ctx.options;
  // In LF framing every line of the message and of the smuggled commands ends in a bare LF; the
  // real end is CRLF.CRLF either way.
  const frame = (text: string): string => (framing === 'lf' ? text.replace(/\r\n/g, '\n') : text);
  const smuggled = frame(
    `MAIL FROM:<${sender}>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\n` + `${ctx.header(id, ' (smuggled part)')}smuggled part\r\n`,
  );
  const close = framing === 'lf' ? '\r\n.\r\nQUIT\r\n' : '.\r\nQUIT\r\n';
  session.write(`${frame(ctx.header(id))}part one${variant}${smuggled}${close}`);
  const { replies, end } = await session.collect((r) => r.code === 221);
  const before = end === 'until' ? replies.slice(0, -1) : replies;
  const shown = JSON.stringify(variant);
  if (before.length === 0) {
    if (end === 'timeout') return verdict.warn(`inconclusive: no reply to the message within the timeout`);
    return verdict.pass(`the server closed the connection on ${shown} without accepting anything`);
  }
  const [first, ...extra] = before;
  if (extra.length === 0) {
    return first!.code < 400
      ? verdict.pass(`${shown} was read as data: one message, one reply (${first!.code})`)
      : verdict.pass(`the message with ${shown} was refused (${first!.code})`);
  }
  const accepted = extra.some((r, i) => r.code === 354 && (extra[i + 1]?.code ?? 0) >= 200 && extra[i + 1]!.code < 300);
  return verdict.fail(
    `DATA ended at ${shown}: the smuggled commands were answered (${codes(before)})` +
      (accepted ? ', and the smuggled message was accepted' : ''),
  );
}

/** Bare CR, bare LF and NUL inside a DATA body: refused (pass) or accepted (warn). */
const DATA_CHARACTERS: readonly { id: ConformCheckId; text: string; what: string; rfc: string }[] = [
  {
    id: 'data-bare-lf',
    text: 'a line that ends in a bare LF\nnext line\r\n',
    what: 'a bare LF',
    rfc: 'RFC 5321 §2.3.8',
  },
  { id: 'data-bare-cr', text: 'a bare CR\rinside a line\r\n', what: 'a bare CR', rfc: 'RFC 5321 §2.3.8' },
  { id: 'data-nul', text: 'a NUL \0 inside a line\r\n', what: 'a NUL octet', rfc: 'RFC 5321 §4.5.2, RFC 6152 §2' },
];

async function dataCharacter(ctx: CheckContext, id: string, text: string, what: string): Promise<Verdict> {
  const session = await ctx.open();
  const begun = await ctx.beginData(session);
  if (begun) return begun;
  session.write(`${ctx.header(id)}${text}.\r\nQUIT\r\n`);
  const { replies, end } = await session.collect((r) => r.code === 221);
  const first = replies[0];
  if (!first || first.code === 221) {
    return end === 'timeout'
      ? verdict.warn('inconclusive: no reply to the message within the timeout')
      : verdict.pass(`the server closed the connection on ${what}`);
  }
  if (first.code >= 400) return verdict.pass(`a body with ${what} was refused (${first.code})`);
  // Accepting is common and not forbidden to a server; whether it was normalised or passed on
  // cannot be seen from the replies, so it is a warning, not a failure.
  return verdict.warn(`a body with ${what} was accepted (${first.code}): normalised or passed on, never refused`);
}

/** The checks of this module. */
export const SMUGGLING_CHECKS: readonly CheckDef[] = [
  ...EOD_VARIANTS.map(
    (v): CheckDef => ({
      id: v.id,
      group: 'smuggling',
      rfc: 'RFC 5321 §4.1.1.4, §2.3.8',
      needs: 'rcpt',
      run: (ctx) => smuggle(ctx, v.id, v.bytes, v.framing ?? 'crlf'),
    }),
  ),
  ...DATA_CHARACTERS.map(
    (c): CheckDef => ({
      id: c.id,
      group: 'bare-characters',
      rfc: c.rfc,
      needs: 'rcpt',
      run: (ctx) => dataCharacter(ctx, c.id, c.text, c.what),
    }),
  ),
];
