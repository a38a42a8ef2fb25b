/**
 * The AUTH step's decisions before a byte is sent (RFC 4954): whether credentials may go over this
 * connection at all, whether the server offers AUTH, and which mechanism to run with which channel
 * binding. The exchange itself is `saslLogin` in protocol/sasl/; connection.ts runs it under its lock.
 */
import type tls from 'node:tls';
import { AuthError, ErrorCodes } from '../errors.js';
import { type AuthMethod, type Credentials, chooseMechanism, type SaslLoginOptions } from '../protocol/auth.js';
import type { ServerInfo } from '../protocol/extensions.js';
import { channelBindingOf } from './channel-binding.js';
import { isLoopback } from './connect.js';

/** What the AUTH step needs to know of its connection. */
export interface LoginContext {
  host: string;
  port: number;
  /** The TLS socket when TLS is active, else null. */
  tlsSocket: tls.TLSSocket | null;
  info: ServerInfo;
  allowInsecureAuth: boolean | undefined;
  scramMinIterations: number | undefined;
}

/**
 * The one rule for sending credentials: over TLS, to a loopback host, or when the caller allowed plaintext
 * (`allowInsecureAuth`). The engine's login and conform's scan both ask it.
 */
export function credentialsAllowed(host: string, secure: boolean, allowInsecureAuth: boolean | undefined): boolean {
  return secure || isLoopback(host) || allowInsecureAuth === true;
}

/**
 * Checks that credentials may be sent and chooses the mechanism: the options for `saslLogin`.
 * @throws AuthError (`ERR_SMTP_AUTH_INSECURE`, `ERR_SMTP_AUTH_UNAVAILABLE`, or no usable mechanism).
 */
export function planLogin(
  ctx: LoginContext,
  credentials: Credentials,
  preferred: AuthMethod | undefined,
): SaslLoginOptions {
  const { host, info } = ctx;
  const secure = ctx.tlsSocket !== null;
  if (!credentialsAllowed(host, secure, ctx.allowInsecureAuth)) {
    throw new AuthError(`refusing to send credentials to ${host} without TLS (set allowInsecureAuth to allow it)`, {
      code: ErrorCodes.AUTH_INSECURE,
    });
  }
  if (!info.keywords.has('AUTH') && info.authMechanisms.length === 0) {
    throw new AuthError(`${host} does not offer AUTH${secure ? '' : ' (some servers offer it only after STARTTLS)'}`, {
      code: ErrorCodes.AUTH_UNAVAILABLE,
    });
  }
  // SCRAM-*-PLUS binds the login to this TLS session (RFC 5802 §6); the mechanisms stay socket-free.
  const channelBinding = ctx.tlsSocket ? channelBindingOf(ctx.tlsSocket) : null;
  const method = chooseMechanism(info.authMechanisms, credentials, {
    preferred,
    secure: secure || isLoopback(host),
    channelBinding,
  });
  return {
    method,
    credentials,
    channelBinding,
    advertised: info.authMechanisms,
    host,
    port: ctx.port,
    scramMinIterations: ctx.scramMinIterations,
  };
}
