/**
 * Extensions (8BITMIME, SMTPUTF8, CHUNKING, DSN, ENHANCEDSTATUSCODES, REQUIRETLS), VRFY, the
 * open-relay attempt and reply syntax.
 *
 * Verdicts:
 * - A parameter check (`ext-8bitmime`, `ext-dsn`, `ext-requiretls`): advertised → MAIL (and RCPT)
 *   with the parameter must get 250 (else fail); not advertised → the parameter should be refused
 *   (RFC 5321 §4.1.1.11: 555) → pass, accepted → warn. Every transaction ends with RSET: no mail.
 * - `ext-smtputf8`: a UTF-8 reverse-path. Advertised: with the SMTPUTF8 parameter → 250 (else fail);
 *   without it → should be refused (accepted → warn, RFC 6531 §3.4). Not advertised: any UTF-8
 *   address accepted → fail; refused → pass.
 * - `ext-chunking` (needs the operator's mailbox): `BDAT n` with a small message then `BDAT 0 LAST`
 *   (RFC 3030 §2 allows a last chunk of zero octets) → 250, 250 → pass; anything else → fail.
 * - `ext-enhancedstatuscodes`: a 2xx (RSET) and two 5xx (unknown verb, RCPT before MAIL) must carry
 *   an enhanced code (RFC 2034 §3: every 2xx, 4xx, 5xx reply except the greeting and EHLO) → else fail;
 *   so must every 4xx reply earlier checks met (e.g. 452 from `limit-recipients`), since a 4xx cannot
 *   be provoked safely on its own.
 * - `vrfy-disclosure`: `VRFY postmaster`: 250/251 (a mailbox confirmed) → warn; 252, 500, 502 or a 55x
 *   refusal → pass (RFC 5321 §3.5.3, §7.3); anything else → warn.
 * - `relay-open` (opt-in): unauthenticated MAIL, then `RCPT TO:<smtpwire-relay-test@example.net>`
 *   (RFC 2606 domain), never DATA. 2xx → fail (open relay); refused → pass.
 * - `reply-syntax`: every reply line of the whole run (plus HELP, VRFY, NOOP in its own session)
 *   has three digits and a space or hyphen, one code per multi-line reply, text without control
 *   characters but HT (RFC 5321 §4.2 textstring), and an enhanced code whose class is the reply's
 *   (RFC 3463 §2) → else fail.
 */
import type { ServerInfo } from '../../protocol/extensions.js';
import { formatReply } from '../../protocol/reply.js';
import { escapeTerminalText } from '../../util/terminal-text.js';
import type { CheckContext, CheckDef, Verdict } from '../context.js';
import { codes, verdict } from '../context.js';

async function parameter(
  ctx: CheckContext,
  advertised: boolean,
  keyword: string,
  mailParams: string,
  rcptParams = '',
): Promise<Verdict> {
  const session = await ctx.open();
  const mail = await session.command(`MAIL FROM:<${ctx.options.sender}> ${mailParams}`);
  let rcpt = null;
  if (mail.code === 250 && rcptParams !== '')
    rcpt = await session.command(`RCPT TO:<${ctx.options.rcpt ?? 'postmaster'}> ${rcptParams}`);
  await session.command('RSET');
  if (advertised) {
    if (mail.code !== 250)
      return verdict.fail(`${keyword} advertised but MAIL … ${mailParams} got ${formatReply(mail)}`);
    if (rcpt && rcpt.code !== 250 && rcpt.code !== 251)
      return verdict.fail(`${keyword} advertised but RCPT … ${rcptParams} got ${formatReply(rcpt)}`);
    return verdict.pass(`${keyword} advertised and its parameters accepted`);
  }
  if (mail.code >= 500) return verdict.pass(`${keyword} not advertised; ${mailParams} refused (${formatReply(mail)})`);
  if (mail.code >= 400) return verdict.warn(`${keyword} not advertised; ${mailParams} refused only temporarily`);
  return verdict.warn(`${keyword} not advertised, yet MAIL … ${mailParams} was accepted (${formatReply(mail)})`);
}

/** The sender with a UTF-8 local part: `ü.<local>@<domain>`. */
function utf8Sender(sender: string): string {
  return `ü.${sender}`;
}

async function smtputf8(ctx: CheckContext): Promise<Verdict> {
  const session = await ctx.open();
  const sender = utf8Sender(ctx.options.sender);
  const advertised = ctx.info.smtpUtf8;
  let withParam = null;
  if (advertised) {
    withParam = await session.command(`MAIL FROM:<${sender}> SMTPUTF8`);
    await session.command('RSET');
  }
  const without = await session.command(`MAIL FROM:<${sender}>`);
  await session.command('RSET');
  if (!advertised) {
    if (without.code < 400)
      return verdict.fail(`SMTPUTF8 not advertised, yet a UTF-8 address was accepted (${formatReply(without)})`);
    return verdict.pass(`SMTPUTF8 not advertised; a UTF-8 address refused (${formatReply(without)})`);
  }
  if (withParam!.code !== 250)
    return verdict.fail(`SMTPUTF8 advertised, but a UTF-8 address with SMTPUTF8 got ${formatReply(withParam!)}`);
  if (without.code < 400)
    return verdict.warn(`a UTF-8 address without the SMTPUTF8 parameter was accepted (${formatReply(without)})`);
  return verdict.pass('a UTF-8 address accepted with SMTPUTF8 and refused without it');
}

async function chunking(ctx: CheckContext): Promise<Verdict> {
  if (!ctx.info.chunking) return verdict.skipped('CHUNKING not advertised');
  const session = await ctx.open();
  for (const line of [`MAIL FROM:<${ctx.options.sender}>`, `RCPT TO:<${ctx.options.rcpt}>`]) {
    const reply = await session.command(line);
    if (reply.code !== 250 && reply.code !== 251)
      return verdict.warn(`inconclusive: ${line.split(':')[0]} answered ${formatReply(reply)}`);
  }
  const chunk = Buffer.from(`${ctx.header('ext-chunking')}sent with BDAT, then BDAT 0 LAST\r\n`);
  session.write(Buffer.concat([Buffer.from(`BDAT ${chunk.length}\r\n`), chunk, Buffer.from('BDAT 0 LAST\r\n')]));
  const first = await session.read();
  const last = await session.read();
  if (first.code === 250 && last.code === 250)
    return verdict.pass(`BDAT ${chunk.length} and BDAT 0 LAST accepted (${codes([first, last])})`);
  return verdict.fail(`BDAT ${chunk.length} then BDAT 0 LAST answered ${codes([first, last])}: ${formatReply(last)}`);
}

async function enhancedCodes(ctx: CheckContext): Promise<Verdict> {
  if (!ctx.info.enhancedStatusCodes) return verdict.skipped('ENHANCEDSTATUSCODES not advertised');
  const session = await ctx.open();
  const replies = [
    ['RSET', await session.command('RSET')],
    ['unknown verb', await session.command('XSMTPWIRE-ESC')],
    ['RCPT before MAIL', await session.command(`RCPT TO:<${ctx.options.rcpt ?? 'postmaster'}>`)],
  ] as const;
  const missing = replies.filter(([, r]) => r.enhanced === null).map(([what, r]) => `${what} → ${formatReply(r)}`);
  // 4xx cannot be provoked safely; judge the ones earlier checks met (452 too many recipients, 421 …).
  const transient = transientReplies(ctx.runLines());
  const bare = transient.filter((line) => !ENHANCED.test(line.slice(4)));
  if (bare.length) missing.push(`${bare.length} of ${transient.length} 4xx replies of the run (${bare[0]})`);
  if (missing.length) return verdict.fail(`advertised but missing on: ${missing.join('; ')}`);
  const seen4xx = transient.length
    ? `, and on ${transient.length} 4xx replies of the run`
    : '; no 4xx reply seen in the run';
  return verdict.pass(
    `enhanced codes on 2xx and 5xx replies (${replies.map(([, r]) => r.enhanced).join(' ')})${seen4xx}`,
  );
}

/** First lines of the 4xx replies in each session's raw lines, the greeting excepted (RFC 2034 §3 exempts it). */
function transientReplies(sessions: readonly (readonly string[])[]): string[] {
  const out: string[] = [];
  for (const lines of sessions) {
    let index = 0;
    let first = true;
    for (const line of lines) {
      if (first && index > 0 && line.startsWith('4')) out.push(line);
      first = line[3] !== '-';
      if (first) index++;
    }
  }
  return out;
}

async function requireTls(ctx: CheckContext): Promise<Verdict> {
  const plain: ServerInfo | null = ctx.baseline.plain;
  if (plain?.requireTls && ctx.options.channel !== 'plain')
    return verdict.warn('REQUIRETLS advertised before TLS: it only means something under TLS (RFC 8689 §4.1)');
  return parameter(ctx, ctx.info.requireTls, 'REQUIRETLS', 'REQUIRETLS');
}

const RELAY_RECIPIENT = 'smtpwire-relay-test@example.net';

async function relay(ctx: CheckContext): Promise<Verdict> {
  if (!ctx.options.relayTest) return verdict.skipped('opt-in: --relay-test');
  const session = await ctx.open({ auth: false });
  const mail = await session.command(`MAIL FROM:<${ctx.options.sender}>`);
  if (mail.code >= 400) return verdict.pass(`MAIL refused without AUTH: ${formatReply(mail)}`);
  const rcpt = await session.command(`RCPT TO:<${RELAY_RECIPIENT}>`);
  await session.command('RSET');
  if (rcpt.code < 400)
    return verdict.fail(`open relay: RCPT to ${RELAY_RECIPIENT} accepted without AUTH (${formatReply(rcpt)})`);
  return verdict.pass(`relay to ${RELAY_RECIPIENT} refused: ${formatReply(rcpt)}`);
}

const LINE = /^([2-5]\d\d)([ -]|$)/;
const ENHANCED = /^([245])\.\d{1,3}\.\d{1,3}(?: |$)/;
/** RFC 5321 §4.2 textstring is HT, SP and printable characters (UTF-8 too, RFC 6531): no other control. */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Problems in a stream of raw reply lines (one session's), at most a few examples. */
/** A server's line as evidence: clipped, every control character escaped (JSON.stringify leaves bidi ones raw). */
function shown(line: string): string {
  return escapeTerminalText(line.slice(0, 60), { backslash: true });
}

export function replySyntaxProblems(lines: readonly string[]): string[] {
  const problems: string[] = [];
  let open: string | null = null;
  for (const line of lines) {
    const m = LINE.exec(line);
    if (!m) {
      problems.push(`malformed line "${shown(line)}"`);
      open = null;
      continue;
    }
    const code = m[1]!;
    if (open !== null && code !== open) problems.push(`code changed within a multi-line reply (${open} then ${code})`);
    const text = line.slice(4);
    if (CONTROL.test(text)) problems.push(`control character in reply text "${shown(line)}"`);
    const e = ENHANCED.exec(text);
    if (e && e[1] !== code[0]) problems.push(`enhanced code ${text.split(' ')[0]} does not match reply ${code}`);
    open = m[2] === '-' ? code : null;
  }
  return problems;
}

async function replySyntax(ctx: CheckContext): Promise<Verdict> {
  const session = await ctx.open();
  for (const line of ['NOOP', 'HELP', 'VRFY postmaster', 'XSMTPWIRE-SYNTAX']) await session.command(line);
  session.destroy();
  const all = ctx.runLines();
  const problems = [...new Set(all.flatMap((lines) => replySyntaxProblems(lines)))];
  const count = all.reduce((n, lines) => n + lines.length, 0);
  if (problems.length) return verdict.fail(`${problems.slice(0, 5).join('; ')}`);
  return verdict.pass(`${count} reply lines in ${all.length} sessions, all well formed`);
}

async function vrfy(ctx: CheckContext): Promise<Verdict> {
  const session = await ctx.open();
  const reply = await session.command('VRFY postmaster');
  if (reply.code === 250 || reply.code === 251) return verdict.warn(`VRFY discloses mailboxes: ${formatReply(reply)}`);
  if (reply.code === 252 || reply.code === 502 || reply.code === 500 || reply.code >= 550)
    return verdict.pass(`VRFY answered ${formatReply(reply)} (RFC 5321 §3.5.3)`);
  return verdict.warn(`unexpected VRFY reply: ${formatReply(reply)}`);
}

/** The checks of this module. */
export const EXTENSION_CHECKS: readonly CheckDef[] = [
  {
    id: 'ext-8bitmime',
    group: 'extensions',
    rfc: 'RFC 6152 §2',
    run: (ctx) => parameter(ctx, ctx.info.eightBitMime, '8BITMIME', 'BODY=8BITMIME'),
  },
  { id: 'ext-smtputf8', group: 'extensions', rfc: 'RFC 6531 §3.4', run: smtputf8 },
  { id: 'ext-chunking', group: 'extensions', rfc: 'RFC 3030 §2', needs: 'rcpt', run: chunking },
  {
    id: 'ext-dsn',
    group: 'extensions',
    rfc: 'RFC 3461 §4',
    run: (ctx) => parameter(ctx, ctx.info.dsn, 'DSN', 'RET=HDRS ENVID=smtpwire-conform', 'NOTIFY=NEVER'),
  },
  { id: 'ext-enhancedstatuscodes', group: 'extensions', rfc: 'RFC 2034 §3', run: enhancedCodes },
  { id: 'ext-requiretls', group: 'extensions', rfc: 'RFC 8689 §4', run: requireTls },
  { id: 'vrfy-disclosure', group: 'extensions', rfc: 'RFC 5321 §3.5.3, §7.3', run: vrfy },
  { id: 'relay-open', group: 'relay', rfc: 'RFC 5321 §3.9, §7.1', run: relay },
  { id: 'reply-syntax', group: 'reply-syntax', rfc: 'RFC 5321 §4.2, RFC 3463 §2', run: replySyntax },
];
