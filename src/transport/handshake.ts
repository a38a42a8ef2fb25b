/**
 * The opening of a session, as decisions on replies: the greeting (RFC 5321 §4.3.1), EHLO with its
 * HELO fallback (§3.2) or LHLO (RFC 2033 §4.1), the client's own name (§4.1.4), and the refusal to go
 * on in plaintext without STARTTLS (RFC 3207). The socket work around them (TLS upgrade, re-attaching,
 * forgetting what came before TLS) stays in connection.ts.
 */
import type net from 'node:net';
import type { SmtpProtocol } from '../enums.js';
import { ErrorCodes, ReplyError, TlsError } from '../errors.js';
import * as cmd from '../protocol/commands.js';
import { heloInfo, parseEhlo, type ServerInfo } from '../protocol/extensions.js';
import { formatReply, type Reply } from '../protocol/reply.js';
import { replyError } from './outcome.js';

/** What the hello step needs of its connection (its reply queue). */
export interface HelloHost {
  send(line: string): Promise<Reply>;
  /** Sends `line` and throws a ReplyError unless the reply matches `code`. */
  expect(line: string, code: number): Promise<Reply>;
}

/** The error for a greeting other than 220 (421, 554 …), or null when the server greets. */
export function greetingRefused(greeting: Reply): ReplyError | null {
  if (greeting.code === 220) return null;
  return new ReplyError(`the server refused the session at greeting: ${formatReply(greeting)}`, {
    code: ErrorCodes.GREETING_REFUSED,
    replyCode: greeting.code,
    enhancedCode: greeting.enhanced,
    lines: greeting.lines,
  });
}

/** Says EHLO (LHLO for LMTP) as `name` and resolves with what the server advertised. */
export async function hello(host: HelloHost, protocol: SmtpProtocol, name: string): Promise<ServerInfo> {
  // LMTP (RFC 2033 §4.1): LHLO, and no HELO fallback (an LMTP server must know LHLO).
  if (protocol === 'lmtp') {
    const lhlo = await host.send(cmd.lhlo(name));
    if (lhlo.code !== 250) throw replyError('LHLO', lhlo);
    return parseEhlo(lhlo);
  }
  const reply = await host.send(cmd.ehlo(name));
  if (reply.code === 250) return parseEhlo(reply);
  // RFC 5321 §3.2: fall back to HELO when EHLO is not recognised.
  if (reply.code === 500 || reply.code === 502) return heloInfo(await host.expect(cmd.helo(name), 250));
  throw replyError('EHLO', reply);
}

/** `encryption: 'tls'` and no STARTTLS on offer: never fall back to plaintext unless asked to. */
export function startTlsUnavailable(host: string, port: number): TlsError {
  return new TlsError(
    `${host}:${port} does not offer STARTTLS; refusing to continue in plaintext (use encryption 'none' or opportunisticTls to allow it)`,
    { code: ErrorCodes.STARTTLS_UNAVAILABLE },
  );
}

/** RFC 5321 §4.1.4: without a name, the client's address literal. */
export function localName(socket: net.Socket | null): string {
  const address = socket?.localAddress;
  if (!address) return '[127.0.0.1]';
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (v4) return `[${v4[1]}]`;
  return address.includes(':') ? `[IPv6:${address}]` : `[${address}]`;
}
