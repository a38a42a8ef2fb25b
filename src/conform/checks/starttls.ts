/**
 * STARTTLS and TLS: offered, command injection, capabilities after TLS, AUTH before TLS, legacy
 * protocol versions, the certificate.
 *
 * Verdicts:
 * - `starttls-offered`: in the plaintext EHLO → pass; missing → warn (with `encryption: 'tls'` the
 *   run stops before the checks instead). Skipped with implicit TLS.
 * - `starttls-injection` (CVE-2011-0411 class, server side): `STARTTLS\r\nXSMTPWIRE-INJECTED\r\n`
 *   in one plaintext write, the handshake, then `EHLO` and `QUIT` under TLS. A conforming server
 *   dropped the injected line with its plaintext buffer (RFC 3207 §6): it answers EHLO, then QUIT
 *   → pass. A reply before the EHLO reply (the answer to the injected command, now under TLS) → fail.
 *   A hang-up or a failed handshake after the injection → pass (the server refused the pipelined
 *   plaintext).
 * - `starttls-capabilities`: the EHLO after TLS must not offer STARTTLS again (RFC 3207 §4.2) → fail
 *   if it does; otherwise pass, listing what appeared or vanished.
 * - `auth-before-tls`: AUTH advertised in the plaintext EHLO on a server that offers STARTTLS →
 *   warn (RFC 8314 §3: credentials only under TLS); only after TLS → pass.
 * - `tls-v1.0` / `tls-v1.1`: a handshake limited to that version (RFC 8996 deprecates both)
 *   succeeds → warn; refused → pass.
 * - `tls-certificate`: the chain verifies against the trusted CAs (the caller's `tls.ca` or the
 *   system store) → else fail; the name matches the host or `tls.servername` → else fail; expired or
 *   not yet valid → fail; expiring within 14 days → warn.
 */
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import type { ServerInfo } from '../../protocol/extensions.js';
import type { CheckContext, CheckDef, Verdict } from '../context.js';
import { codes, verdict } from '../context.js';

function keywords(info: ServerInfo): string[] {
  return [...info.keywords.keys()];
}

async function offered(ctx: CheckContext): Promise<Verdict> {
  if (ctx.options.channel === 'implicit') return verdict.skipped('implicit TLS (RFC 8314): no STARTTLS needed');
  // A fresh plaintext EHLO, for the evidence; the verdict reads what the first session learnt.
  await ctx.open({ plain: true, auth: false });
  const plain = ctx.baseline.plain!;
  if (plain.startTls) return verdict.pass('STARTTLS advertised in the plaintext EHLO');
  return verdict.warn('STARTTLS not advertised: every session stays in plaintext');
}

function needsStartTls(ctx: CheckContext): Verdict | null {
  if (ctx.options.channel === 'implicit') return verdict.skipped('implicit TLS: no STARTTLS');
  if (!ctx.baseline.plain?.startTls) return verdict.skipped('STARTTLS not advertised');
  return null;
}

async function injection(ctx: CheckContext): Promise<Verdict> {
  const skip = needsStartTls(ctx);
  if (skip) return skip;
  const session = await ctx.connect();
  await session.hello(ctx.options.clientName);
  try {
    await session.startTls('XSMTPWIRE-INJECTED\r\n');
  } catch (err) {
    if (session.closed) return verdict.pass(`the server refused the pipelined plaintext: ${(err as Error).message}`);
    throw err;
  }
  session.write(`EHLO ${ctx.options.clientName}\r\nQUIT\r\n`);
  const { replies, end } = await session.collect((r) => r.code === 221);
  const before = end === 'until' ? replies.slice(0, -1) : replies;
  if (before.length === 0)
    return end === 'timeout'
      ? verdict.warn('inconclusive: no reply under TLS within the timeout')
      : verdict.pass('the server hung up after the handshake (it refused the pipelined plaintext)');
  const ehloIndex = before.findIndex((r) => r.code === 250 && r.lines.length > 1);
  if (before.length === 1 || ehloIndex === 0)
    return verdict.pass(`the injected command was dropped: the first reply under TLS answers EHLO (${codes(before)})`);
  return verdict.fail(
    `the command injected in plaintext after STARTTLS was answered under TLS (${codes(before)}): RFC 3207 §6`,
  );
}

async function capabilities(ctx: CheckContext): Promise<Verdict> {
  const skip = needsStartTls(ctx);
  if (skip) return skip;
  const session = await ctx.connect();
  const before = await session.hello(ctx.options.clientName);
  await session.startTls();
  const after = await session.ehlo(ctx.options.clientName);
  const added = keywords(after).filter((k) => !before.keywords.has(k));
  const removed = keywords(before).filter((k) => !after.keywords.has(k));
  const diff = `added: ${added.join(' ') || 'none'}; removed: ${removed.join(' ') || 'none'}`;
  if (after.startTls) return verdict.fail(`STARTTLS is still advertised under TLS (${diff})`);
  return verdict.pass(`EHLO under TLS re-read (${diff})`);
}

async function authBeforeTls(ctx: CheckContext): Promise<Verdict> {
  const skip = needsStartTls(ctx);
  if (skip) return skip;
  await ctx.open({ plain: true, auth: false });
  const plain = ctx.baseline.plain!;
  if (plain.authMechanisms.length > 0)
    return verdict.warn(`AUTH ${plain.authMechanisms.join(' ')} offered before TLS: credentials may go in the clear`);
  return verdict.pass('AUTH is not offered before TLS');
}

async function legacyVersion(ctx: CheckContext, version: 'TLSv1' | 'TLSv1.1'): Promise<Verdict> {
  if (ctx.options.channel !== 'implicit' && !ctx.baseline.plain?.startTls)
    return verdict.skipped('no TLS offered (STARTTLS not advertised)');
  // OpenSSL 3 refuses these versions at its default security level; lower it for this probe only.
  const tls: ConnectionOptions = {
    ...ctx.tlsOptions,
    minVersion: version,
    maxVersion: version,
    ciphers: 'DEFAULT:@SECLEVEL=0',
    rejectUnauthorized: false,
  };
  try {
    if (ctx.options.channel === 'implicit') {
      await ctx.connect({ tls, implicitTls: true });
    } else {
      const session = await ctx.connect({ tls, implicitTls: false });
      await session.hello(ctx.options.clientName);
      await session.startTls();
    }
  } catch (err) {
    return verdict.pass(`${version} refused: ${(err as Error).message}`);
  }
  return verdict.warn(`a ${version} handshake succeeded: RFC 8996 deprecates TLS 1.0 and 1.1`);
}

const DAY = 86_400_000;

async function certificate(ctx: CheckContext): Promise<Verdict> {
  const o = ctx.options;
  if (o.channel === 'plain' && !ctx.baseline.plain?.startTls) return verdict.skipped('no TLS offered');
  // Look without verification, then judge chain, name and dates separately.
  const tls: ConnectionOptions = { ...o.tls, rejectUnauthorized: false };
  const session = await ctx.connect({ tls, implicitTls: o.channel === 'implicit' });
  if (o.channel !== 'implicit') {
    await session.hello(o.clientName);
    await session.startTls();
  }
  const socket = session.tlsSocket!;
  const cert = socket.getPeerCertificate(true) as PeerCertificate;
  if (!cert || Object.keys(cert).length === 0) return verdict.fail('the server presented no certificate');
  const shown = `subject ${cert.subject?.CN ?? '?'}, SAN ${cert.subjectaltname ?? 'none'}, issuer ${cert.issuer?.CN ?? '?'}, valid ${cert.valid_from} .. ${cert.valid_to}`;
  session.evidence.received.push(`(certificate: ${shown}; ${socket.getProtocol()} ${socket.getCipher()?.name ?? ''})`);
  const problems: string[] = [];
  if (!socket.authorized) problems.push(`chain not verified (${String(socket.authorizationError)})`);
  const name = o.tls?.servername ?? o.host;
  // Loaded here, not at the top: importing smtpwire must not load node:tls.
  const { checkServerIdentity } = await import('node:tls');
  const identity = checkServerIdentity(name, cert);
  if (identity) problems.push(`name ${name} does not match (${identity.message})`);
  const now = Date.now();
  const notAfter = Date.parse(cert.valid_to);
  if (Date.parse(cert.valid_from) > now) problems.push('not yet valid');
  if (notAfter < now) problems.push('expired');
  if (problems.length) return verdict.fail(`certificate: ${problems.join('; ')} (${shown})`);
  if (notAfter - now < 14 * DAY) return verdict.warn(`certificate expires within 14 days: ${cert.valid_to} (${shown})`);
  return verdict.pass(`certificate verified, name ${name} matches, valid until ${cert.valid_to}`);
}

/** The checks of this module. */
export const STARTTLS_CHECKS: readonly CheckDef[] = [
  { id: 'starttls-offered', group: 'starttls', rfc: 'RFC 3207 §4, RFC 8314', run: offered },
  { id: 'starttls-injection', group: 'starttls', rfc: 'RFC 3207 §4.2, §6 (CVE-2011-0411)', run: injection },
  { id: 'starttls-capabilities', group: 'starttls', rfc: 'RFC 3207 §4.2', run: capabilities },
  { id: 'auth-before-tls', group: 'starttls', rfc: 'RFC 8314 §3, RFC 4954 §4', run: authBeforeTls },
  { id: 'tls-v1.0', group: 'starttls', rfc: 'RFC 8996 §2', run: (ctx) => legacyVersion(ctx, 'TLSv1') },
  { id: 'tls-v1.1', group: 'starttls', rfc: 'RFC 8996 §3', run: (ctx) => legacyVersion(ctx, 'TLSv1.1') },
  { id: 'tls-certificate', group: 'starttls', rfc: 'RFC 7817 §3, RFC 6125 §6', run: certificate },
];
