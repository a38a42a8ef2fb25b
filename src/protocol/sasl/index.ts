/**
 * The SASL registry: which mechanism to use (chooseMechanism), how to make it (createMechanism), and
 * the AUTH exchange itself (saslLogin) over any `send` the transport gives. Pure: no socket here.
 */
import { AuthError, ErrorCodes, InvalidArgumentError } from '../../errors.js';
import * as cmd from '../commands.js';
import { formatReply, type Reply } from '../reply.js';
import { cramMd5 } from './cram-md5.js';
import { assertNoSeparators } from './credentials.js';
import { login } from './login.js';
import { oauthbearer } from './oauthbearer.js';
import { plain } from './plain.js';
import { scram } from './scram.js';
import {
  type AccessTokenProvider,
  type AuthMethod,
  type ChannelBinding,
  type Credentials,
  MAX_CHALLENGES,
  type Mechanism,
  type MechanismContext,
} from './types.js';
import { xoauth2 } from './xoauth2.js';

export * from './types.js';

/** Creates the mechanism `name` in `ctx`. @throws InvalidArgumentError when a needed credential is missing. */
export function createMechanism(name: AuthMethod, ctx: MechanismContext): Mechanism {
  switch (name) {
    case 'PLAIN':
      return plain(ctx);
    case 'LOGIN':
      return login(ctx);
    case 'CRAM-MD5':
      return cramMd5(ctx);
    case 'XOAUTH2':
      return xoauth2(ctx);
    case 'OAUTHBEARER':
      return oauthbearer(ctx);
    case 'SCRAM-SHA-256':
      return scram(ctx, { hash: 'sha256', plus: false });
    case 'SCRAM-SHA-256-PLUS':
      return scram(ctx, { hash: 'sha256', plus: true });
    case 'SCRAM-SHA-1':
      return scram(ctx, { hash: 'sha1', plus: false });
  }
}

/**
 * Picks the mechanism. A configured one must be advertised (and -PLUS needs channel binding).
 * Otherwise, with a token: OAUTHBEARER, then XOAUTH2. With a password: SCRAM first, as it never
 * sends the password (-PLUS when TLS gives a binding and it is offered), then over TLS (or loopback)
 * PLAIN, LOGIN, CRAM-MD5; over plaintext CRAM-MD5 before them.
 * @throws AuthError `ERR_SMTP_AUTH_UNAVAILABLE` when nothing usable is advertised.
 */
export function chooseMechanism(
  advertised: readonly string[],
  credentials: Credentials,
  options: { preferred?: AuthMethod | undefined; secure: boolean; channelBinding?: ChannelBinding | null },
): AuthMethod {
  const offered = new Set(advertised.map((m) => m.toUpperCase()));
  const list = (): string => [...offered].join(' ') || 'none';
  if (options.preferred) {
    if (!offered.has(options.preferred)) {
      throw new AuthError(`the server does not offer AUTH ${options.preferred} (it offers: ${list()})`, {
        code: ErrorCodes.AUTH_UNAVAILABLE,
      });
    }
    if (options.preferred.endsWith('-PLUS') && !options.channelBinding) {
      throw new AuthError(`AUTH ${options.preferred} needs TLS channel binding, which this connection cannot give`, {
        code: ErrorCodes.AUTH_UNAVAILABLE,
      });
    }
    return options.preferred;
  }
  const order: AuthMethod[] = [];
  if (credentials.accessToken !== undefined) order.push('OAUTHBEARER', 'XOAUTH2');
  if (credentials.password !== undefined) {
    if (options.channelBinding) order.push('SCRAM-SHA-256-PLUS');
    order.push('SCRAM-SHA-256', 'SCRAM-SHA-1');
    order.push(
      ...(options.secure ? (['PLAIN', 'LOGIN', 'CRAM-MD5'] as const) : (['CRAM-MD5', 'PLAIN', 'LOGIN'] as const)),
    );
  }
  const pick = order.find((m) => offered.has(m));
  if (!pick) {
    throw new AuthError(`no usable AUTH mechanism (server offers: ${list()})`, { code: ErrorCodes.AUTH_UNAVAILABLE });
  }
  return pick;
}

/** Calls the caller's token provider and checks what it gives. */
export async function resolveToken(provider: AccessTokenProvider | undefined, method: string): Promise<string> {
  if (provider === undefined) throw new InvalidArgumentError(`${method} needs accessToken`, { field: 'accessToken' });
  const token = typeof provider === 'function' ? await provider() : provider;
  if (typeof token !== 'string' || token === '')
    throw new InvalidArgumentError('accessToken must be a non-empty string', { field: 'accessToken' });
  assertNoSeparators(token, 'accessToken');
  return token;
}

/** What the exchange needs from the connection. */
export interface SaslTransport {
  /** Writes one command line and resolves with its reply; `shown` replaces the line in the transcript. */
  send(line: string, shown?: string): Promise<Reply>;
  /**
   * Bounds a local step of the exchange (the caller's token provider, SCRAM's key derivation, named `what`):
   * rejects once the connection fails (an abort included) or the step overruns, without waiting for it.
   */
  local?<T>(work: Promise<T>, what: string): Promise<T>;
}

export interface SaslLoginOptions extends Omit<MechanismContext, 'accessToken'> {
  method: AuthMethod;
}

/**
 * Runs AUTH (RFC 4954 §4) with `method`: at most {@link MAX_CHALLENGES} challenges, `*` to cancel when
 * a challenge cannot be answered, every client payload redacted in the transcript. OAUTHBEARER gets
 * one more try with a fresh token after the server's JSON error, when the token is a provider function.
 * @throws AuthError (`ERR_SMTP_AUTH` with `replyCode` when refused; `ERR_SMTP_AUTH_SERVER_PROOF`,
 *   `ERR_SMTP_AUTH_CHALLENGE` without one, which the caller treats as fatal for the connection).
 */
export async function saslLogin(io: SaslTransport, options: SaslLoginOptions): Promise<Reply> {
  const { method, credentials } = options;
  const usesToken = method === 'XOAUTH2' || method === 'OAUTHBEARER';
  const attempts = method === 'OAUTHBEARER' && typeof credentials.accessToken === 'function' ? 2 : 1;
  for (let attempt = 1; ; attempt++) {
    const accessToken = usesToken
      ? await bounded(io, resolveToken(credentials.accessToken, method), 'the accessToken provider')
      : undefined;
    const mechanism = createMechanism(method, { ...options, accessToken });
    try {
      return await exchange(io, method, mechanism);
    } catch (err) {
      if (attempt >= attempts || !(err instanceof AuthError) || err.replyCode === null || !mechanism.wantsRetry?.())
        throw err;
    }
  }
}

function bounded<T>(io: SaslTransport, work: Promise<T>, what: string): Promise<T> {
  return io.local ? io.local(work, what) : work;
}

async function exchange(io: SaslTransport, method: AuthMethod, mechanism: Mechanism): Promise<Reply> {
  let reply = await io.send(cmd.auth(method, await mechanism.initialResponse()));
  for (let round = 0; reply.code === 334; round++) {
    let answer: string;
    try {
      if (round >= MAX_CHALLENGES)
        throw new AuthError(`AUTH ${method} aborted after ${MAX_CHALLENGES} challenges`, { command: `AUTH ${method}` });
      answer = await bounded(io, Promise.resolve(mechanism.respond(reply.lines[0] ?? '')), `AUTH ${method}`);
    } catch (err) {
      // A server that failed to prove itself gets nothing more: the caller drops the connection.
      if (!(err instanceof AuthError && err.code === ErrorCodes.AUTH_SERVER_PROOF)) {
        await io.send(cmd.saslResponse('*'), '*').catch(() => {});
      }
      throw err;
    }
    reply = await io.send(cmd.saslResponse(answer), '****');
  }
  if (reply.code !== 235) {
    throw new AuthError(`AUTH ${method} failed: ${formatReply(reply)}`, {
      command: `AUTH ${method}`,
      replyCode: reply.code,
      enhancedCode: reply.enhanced,
      lines: reply.lines,
    });
  }
  mechanism.finish?.();
  return reply;
}
