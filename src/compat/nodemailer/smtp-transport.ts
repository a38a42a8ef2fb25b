/**
 * nodemailer's SMTP (and SMTP pool) transport on the engine: one `SmtpProtocolHandler`, each
 * message handed to `sendRaw` with the envelope nodemailer would use, the result turned into
 * nodemailer's `info` or error. Connections are made by our factory so that each has its own
 * protocol log (logger/debug, the EHLO lines for `info.ehlo`) and, with `proxy`, its own socket.
 */
import { EventEmitter } from 'node:events';
import { ErrorCodes } from '../../errors.js';
import type { PoolConnectionParams } from '../../pool/pool-key.js';
import { SmtpProtocolHandler, type SmtpProtocolHandlerOptions } from '../../send/handler.js';
import type { DeliveryResult } from '../../send/result.js';
import { SmtpConnection, type TranscriptEntry } from '../../transport/connection.js';
import { wireAddress } from './addresses.js';
import { engineDsn } from './dsn.js';
import { fromResult, fromSmtpError, type NodemailerError, nodemailerError, recipientError } from './errors.js';
import type { CompatLogger } from './logger.js';
import { OAuth2Token, type ProvisionCallback } from './oauth2.js';
import { proxySocketFactory } from './proxy.js';
import type { Outgoing } from './transport.js';
import { handlerOptions, type NormalizedOptions } from './transport-options.js';
import type { SMTPTransport } from './types.js';

type Auth = SMTPTransport.AuthenticationTypeOAuth2 & { pass?: string; provisionCallback?: unknown };

/** One set of credentials: its handler (pool) and, for OAuth2, its token. */
interface Route {
  handler: SmtpProtocolHandler;
  oauth2: OAuth2Token | null;
  /** The next token request asks for a new one (the server refused the last). */
  renew: boolean;
}

/** The keys a message's own `auth` may set, as nodemailer's (the rest stays the transport's). */
const MESSAGE_AUTH_KEYS = ['type', 'user', 'pass', 'accessToken', 'refreshToken', 'expires'] as const;
/** Per-message credentials kept at once (each is a pool); the least recently used is closed. */
const MAX_MESSAGE_ROUTES = 16;

export class SmtpTransport extends EventEmitter {
  readonly name: string;
  readonly version = '10.6.1[smtpwire]';
  readonly handler: SmtpProtocolHandler;
  readonly oauth2: OAuth2Token | null;
  readonly slots: number;
  /** Set by the transporter (nodemailer's `transport.mailer`): its `get()` holds `oauth2_provision_cb`. */
  mailer: { get(key: string): unknown } | undefined;
  readonly #logger: CompatLogger;
  /** The options as merged (caller, URL, service), as nodemailer's `transporter.transporter.options`. */
  readonly options: NormalizedOptions;
  readonly #options: NormalizedOptions;
  readonly #base: SmtpProtocolHandlerOptions;
  readonly #route: Route;
  readonly #messageRoutes = new Map<string, Route>();
  readonly #socketFactory: ReturnType<typeof proxySocketFactory>;
  #ehlo: string[] = [];
  #connections = 0;

  constructor(options: NormalizedOptions, logger: CompatLogger) {
    super();
    this.name = options.pool === true ? 'SMTP (pool)' : 'SMTP';
    this.#logger = logger;
    this.#options = options;
    this.options = options;
    this.#base = handlerOptions(options);
    this.#socketFactory =
      typeof options.proxy === 'string'
        ? proxySocketFactory(options.proxy, (options.tls ?? {}) as Parameters<typeof proxySocketFactory>[1])
        : null;
    if (typeof options.proxy === 'string' && this.#socketFactory === null)
      throw nodemailerError('EPROXY', `Unknown proxy configuration ${JSON.stringify(options.proxy)}`);
    this.#route = this.#makeRoute(options.auth as Auth | undefined);
    this.handler = this.#route.handler;
    this.oauth2 = this.#route.oauth2;
    this.slots = this.#base.poolSize ?? 5;
  }

  /** A handler for one set of credentials (password, or OAuth2 with refresh). */
  #makeRoute(auth: Auth | undefined): Route {
    const route: Route = { handler: null as unknown as SmtpProtocolHandler, oauth2: null, renew: false };
    let credentials: Partial<SmtpProtocolHandlerOptions> = {};
    if (auth && typeof auth === 'object') {
      const method = typeof auth.method === 'string' ? auth.method : (this.#options.authMethod as string | undefined);
      if (String(auth.type ?? '').toUpperCase() === 'OAUTH2') {
        const token = new OAuth2Token({
          ...(auth as ConstructorParameters<typeof OAuth2Token>[0]),
          lookupProvisionCallback: () => this.mailer?.get('oauth2_provision_cb') as ProvisionCallback | undefined,
        });
        token.on('token', (t) => this.emit('token', t));
        route.oauth2 = token;
        credentials = {
          username: auth.user ?? '',
          accessToken: () => {
            const renew = route.renew;
            route.renew = false;
            return token.getToken(renew);
          },
          authMethod: 'XOAUTH2',
        };
      } else if (auth.user !== undefined || auth.pass !== undefined) {
        credentials = {
          username: auth.user ?? '',
          password: auth.pass ?? '',
          ...(method ? { authMethod: method.toUpperCase() as SmtpProtocolHandlerOptions['authMethod'] } : {}),
        };
      }
    }
    const socketFactory = this.#socketFactory;
    const connectionFactory = (params: PoolConnectionParams): SmtpConnection => {
      const cid = (++this.#connections).toString(36);
      let inEhlo = false;
      let lines: string[] = [];
      const onTranscript = (entry: TranscriptEntry): void => {
        if (entry.direction === 'client') {
          inEhlo = /^(EHLO|LHLO) /i.test(entry.line);
          lines = [];
        } else if (inEhlo && /^250[ -]/.test(entry.line)) {
          lines.push(entry.line.slice(4));
          // nodemailer's info.ehlo: the keywords after the greeting line of the last EHLO.
          if (entry.line[3] === ' ') this.#ehlo = lines.slice(1);
        }
        this.#logger.transcript(entry, cid);
      };
      return new SmtpConnection({
        ...params.connection,
        host: params.host,
        port: params.port!,
        encryption: params.encryption ?? 'tls',
        ...(params.protocol === undefined ? {} : { protocol: params.protocol }),
        onTranscript,
        ...(socketFactory ? { socketFactory } : {}),
      });
    };
    route.handler = new SmtpProtocolHandler({
      ...this.#base,
      ...credentials,
      pool: { ...this.#base.pool, connectionFactory },
    });
    return route;
  }

  /** The route of a message: the transport's, or (nodemailer's per-message `auth`) its own, kept for reuse. */
  #routeFor(messageAuth: unknown): Route {
    if (!messageAuth || typeof messageAuth !== 'object') return this.#route;
    const merged: Record<string, unknown> = { ...(this.#options.auth as object | undefined) };
    for (const key of MESSAGE_AUTH_KEYS)
      if ((messageAuth as Record<string, unknown>)[key] !== undefined)
        merged[key] = (messageAuth as Record<string, unknown>)[key];
    const key = JSON.stringify(MESSAGE_AUTH_KEYS.map((k) => merged[k] ?? null));
    let route = this.#messageRoutes.get(key);
    if (route) this.#messageRoutes.delete(key);
    else {
      route = this.#makeRoute(merged as Auth);
      if (this.#messageRoutes.size >= MAX_MESSAGE_ROUTES) {
        const [oldestKey, oldest] = this.#messageRoutes.entries().next().value as [string, Route];
        this.#messageRoutes.delete(oldestKey);
        oldest.oauth2?.removeAllListeners();
        void oldest.handler.close();
      }
    }
    this.#messageRoutes.set(key, route);
    return route;
  }

  async send(out: Outgoing): Promise<SMTPTransport.SentMessageInfo> {
    const { envelope } = out;
    if (envelope.to.length === 0) throw nodemailerError('EENVELOPE', 'No recipients defined', { command: 'API' });
    const dsn = engineDsn(out.data.dsn);
    const route = this.#routeFor(out.data.auth);
    const started = Date.now();
    let handedOver = started;
    const attempt = (): Promise<DeliveryResult> =>
      route.handler.sendRaw(
        { from: envelope.from || '', to: envelope.to, ...(dsn ? { dsn } : {}) } as Parameters<
          SmtpProtocolHandler['sendRaw']
        >[0],
        out.raw,
        {
          retry: false,
          ...(out.messageId ? { messageId: out.messageId } : {}),
          onBeforeHandOver: () => {
            handedOver = Date.now();
          },
          ...(out.signal ? { signal: out.signal } : {}),
        },
      );
    this.#logger.log(
      'info',
      { tnx: 'send', messageId: out.messageId },
      'Sending message %s to <%s>',
      out.messageId,
      envelope.to.join(', '),
    );
    let result = await attempt();
    // nodemailer asks for a new token once when the server refuses one it can renew.
    if (result.error?.code === ErrorCodes.AUTH && route.oauth2?.canRefresh) {
      route.renew = true;
      result = await attempt();
    }
    if (result.status !== 'success') {
      const err = fromResult(result, wireAddress);
      this.#logger.log('error', { tnx: 'send', err }, 'Send Error: %s', err.message);
      throw err;
    }
    const failures = Object.entries(result.recipientFailures);
    const finished = Date.now();
    return {
      envelope,
      messageId: result.messageId ?? out.messageId,
      accepted: result.acceptedRecipients.map(wireAddress),
      rejected: failures.map(([r]) => wireAddress(r)),
      ...(failures.length ? { rejectedErrors: failures.map(([r, text]) => recipientError(wireAddress(r), text)) } : {}),
      response: result.response ?? `${result.smtpCode ?? 250}`,
      envelopeTime: handedOver - started,
      messageTime: finished - handedOver,
      messageSize: out.raw.length,
      ...(this.#ehlo.length ? { ehlo: [...this.#ehlo] } : {}),
      result,
    };
  }

  async verify(): Promise<true> {
    if (await this.handler.testConnection()) return true;
    if (this.handler.lastError?.code === ErrorCodes.AUTH && this.oauth2?.canRefresh) {
      this.#route.renew = true;
      if (await this.handler.testConnection()) return true;
    }
    throw fromSmtpError(this.handler.lastError, null) as NodemailerError;
  }

  async close(): Promise<void> {
    const routes = [this.#route, ...this.#messageRoutes.values()];
    this.#messageRoutes.clear();
    for (const r of routes) r.oauth2?.removeAllListeners();
    await Promise.all(routes.map((r) => r.handler.close()));
  }
}
