/**
 * nodemailer's `createTransport` options: a URL string or `url:` (`smtp:`, `smtps:`, query
 * options), `service` from the well-known table, merged in nodemailer's order (options, then the
 * URL's, then the service's), then translated to the engine's handler options.
 */
import { createPrivateKey } from 'node:crypto';
import type { SmtpEncryption } from '../../enums.js';
import { ErrorCodes, InvalidArgumentError } from '../../errors.js';
import type { DkimOptions as EngineDkimOptions } from '../../message/dkim/sign.js';
import { createDkimSigners, DEFAULT_SIGNED_HEADERS } from '../../message/dkim/sign.js';
import { assertKnownKeys, assertObject, NODEMAILER_TRANSPORT_KEYS } from '../../options.js';
import type { SmtpProtocolHandlerOptions } from '../../send/handler.js';
import { wellKnown, wellKnownNames } from './services.js';
import type { DkimOptions } from './types.js';

/** nodemailer options smtpwire does not implement, and why. */
const UNSUPPORTED: Record<string, string> = {
  getSocket: "a custom socket is not supported: use 'proxy'",
  connection: "a ready socket is not supported: use 'proxy'",
  SES: 'the SES API transport is not included: use SES over SMTP (service: "SES-<REGION>")',
  secureConnection: "write 'secure'",
};

export type NormalizedOptions = Record<string, unknown> & { kind: 'smtp' | 'json' | 'stream' | 'sendmail' };

/** nodemailer's `parseConnectionUrl`: `smtp[s]://user:pass@host:port?opt=value&tls.x=y`. */
export function parseConnectionUrl(text: string): Record<string, unknown> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError(`url: ${JSON.stringify(text)} is not a URL (smtp://user:pass@host:port)`, {
      field: 'url',
    });
  }
  const out: Record<string, unknown> = {};
  if (url.protocol === 'smtp:') out.secure = false;
  else if (url.protocol === 'smtps:') out.secure = true;
  else throw new InvalidArgumentError(`url: the scheme must be smtp: or smtps:, got ${url.protocol}`, { field: 'url' });
  if (url.port && Number(url.port)) out.port = Number(url.port);
  if (url.hostname) out.host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.username || url.password)
    out.auth = { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) };
  for (const [key, raw] of url.searchParams) {
    let value: unknown = raw;
    if (raw !== '' && !Number.isNaN(Number(raw))) value = Number(raw);
    else if (raw === 'true') value = true;
    else if (raw === 'false') value = false;
    if (key.startsWith('tls.')) {
      if (out.tls === undefined) out.tls = {};
      const tls = out.tls as Record<string, unknown>;
      if (!(key.slice(4) in tls)) tls[key.slice(4)] = value;
    } else if (!key.includes('.') && !(key in out) && key !== '__proto__') out[key] = value;
  }
  return out;
}

/** Options as nodemailer merges them: the caller's, then the URL's, then the service's (later wins). */
export function normalizeTransportOptions(input: unknown): NormalizedOptions {
  let options: Record<string, unknown> =
    typeof input === 'string' ? { url: input } : ((input ?? {}) as Record<string, unknown>);
  assertObject(options, 'createTransport options');
  assertKnownKeys(options, NODEMAILER_TRANSPORT_KEYS, 'createTransport options', UNSUPPORTED);
  const fromUrl = typeof options.url === 'string' ? parseConnectionUrl(options.url) : {};
  const serviceName = (options.service ?? fromUrl.service) as string | undefined;
  let service = {};
  if (serviceName !== undefined) {
    const found = wellKnown(String(serviceName));
    if (!found) {
      const near = wellKnownNames().filter((n) => n.startsWith(String(serviceName).toLowerCase().slice(0, 3)));
      throw new InvalidArgumentError(
        `service: ${JSON.stringify(serviceName)} is not a well-known service${
          near.length
            ? ` (did you mean ${near
                .slice(0, 3)
                .map((n) => `'${n}'`)
                .join(', ')}?)`
            : ''
        }; give host, port and secure`,
        { field: 'service' },
      );
    }
    service = found;
  }
  options = { ...options, ...fromUrl, ...service };
  const kind = options.jsonTransport
    ? 'json'
    : options.streamTransport
      ? 'stream'
      : options.sendmail
        ? 'sendmail'
        : 'smtp';
  return { ...options, kind };
}

const num = (v: unknown, field: string): number | undefined => {
  if (v === undefined || v === null) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError(`${field} must be a non-negative number of ms`, { field });
  return n;
};

/** The handler options of an SMTP transport (auth is added by the transport: it may need a token provider). */
export function handlerOptions(o: NormalizedOptions): SmtpProtocolHandlerOptions {
  if (o.secure && o.ignoreTLS)
    throw new InvalidArgumentError('secure and ignoreTLS contradict each other', { field: 'ignoreTLS' });
  if (o.requireTLS && (o.ignoreTLS || o.opportunisticTLS))
    throw new InvalidArgumentError('requireTLS contradicts ignoreTLS / opportunisticTLS', { field: 'requireTLS' });
  const encryption: SmtpEncryption = o.secure ? 'ssl' : o.ignoreTLS ? 'none' : 'tls';
  const lmtp = o.lmtp === true;
  const pooled = o.pool === true;
  const socketTimeout = num(o.socketTimeout, 'socketTimeout');
  const connect = num(o.connectionTimeout, 'connectionTimeout') ?? 120_000;
  const dns = num(o.dnsTimeout, 'dnsTimeout');
  const greeting = num(o.greetingTimeout, 'greetingTimeout');
  const rateLimit = o.rateLimit === undefined ? undefined : Number(o.rateLimit);
  return {
    hostname: typeof o.host === 'string' ? o.host : 'localhost',
    port: o.port === undefined ? (lmtp ? 24 : o.secure ? 465 : 587) : Number(o.port),
    ...(lmtp ? { protocol: 'lmtp' as const } : {}),
    encryption,
    // nodemailer upgrades when STARTTLS is offered and goes on in plaintext when not, unless requireTLS.
    ...(encryption === 'tls' && !o.requireTLS ? { opportunisticTls: true } : {}),
    // A caller who turned TLS off chose plaintext: nodemailer then logs in without it, so does this.
    ...(o.ignoreTLS === true || o.allowInsecureAuth === true ? { allowInsecureAuth: true } : {}),
    ...(o.tls === undefined ? {} : { tls: o.tls as SmtpProtocolHandlerOptions['tls'] }),
    ...(typeof o.name === 'string' ? { clientName: o.name } : {}),
    ...(o.localAddress === undefined ? {} : { localAddress: o.localAddress as string }),
    timeouts: {
      // DNS resolution is part of the engine's connect step: the shorter of the two bounds it.
      connect: dns === undefined ? connect : Math.min(connect, Math.max(dns, 1)),
      ...(greeting === undefined ? {} : { greeting }),
      // nodemailer's socketTimeout is any silence on the socket: every reply wait and the body's progress.
      ...(socketTimeout === undefined
        ? {}
        : { command: socketTimeout, dataIdle: socketTimeout, finalReply: socketTimeout }),
    },
    poolSize: o.maxConnections === undefined ? 5 : Number(o.maxConnections),
    pool: {
      maxMessagesPerConnection: pooled ? (o.maxMessages === undefined ? 100 : Number(o.maxMessages)) : 1,
      // nodemailer queues a message until a connection is free, however long: no acquire deadline.
      acquireTimeout: Number.POSITIVE_INFINITY,
      ...(pooled && rateLimit ? { rateLimit: { messages: rateLimit, interval: Number(o.rateDelta ?? 1000) } } : {}),
    },
    retryPolicy: { maxRetries: 0 },
    // nodemailer's own bounds: up to 100 000 recipients (its maxRecipients), local hosts without a TLD.
    limits: { maxRecipients: 100_000, requireTld: false },
  };
}

/**
 * nodemailer's `dkim` (`{ domainName, keySelector, privateKey, headerFieldNames, skipFields, keys }`)
 * → the engine's signer options, one per key.
 */
export function dkimOptions(dkim: DkimOptions | undefined): EngineDkimOptions[] | null {
  if (!dkim) return null;
  assertObject(dkim, 'dkim');
  if (dkim.hashAlgo !== undefined && dkim.hashAlgo !== 'sha256')
    throw new InvalidArgumentError('dkim.hashAlgo: only sha256 is supported (RFC 8301 forbids sha1)', {
      field: 'dkim.hashAlgo',
    });
  const keys = dkim.keys?.length ? dkim.keys.map((k) => ({ ...dkim, keys: undefined, ...k })) : [dkim];
  const list = keys.map((k) => {
    const skip = new Set((k.skipFields ?? '').toLowerCase().split(':').filter(Boolean));
    const fields = k.headerFieldNames
      ? k.headerFieldNames
          .split(':')
          .map((f) => f.trim())
          .filter(Boolean)
      : DEFAULT_SIGNED_HEADERS.filter((f) => !skip.has(f.toLowerCase()));
    let key: EngineDkimOptions['privateKey'];
    try {
      key =
        typeof k.privateKey === 'object' && k.privateKey !== null
          ? createPrivateKey({
              key: k.privateKey.key,
              ...(k.privateKey.passphrase ? { passphrase: k.privateKey.passphrase } : {}),
            })
          : k.privateKey;
    } catch (err) {
      throw new InvalidArgumentError(`dkim.privateKey: ${(err as Error).message}`, {
        field: 'dkim.privateKey',
        code: ErrorCodes.DKIM_KEY,
        cause: err,
      });
    }
    return {
      domainName: k.domainName,
      keySelector: k.keySelector,
      privateKey: key,
      headerFields: fields.filter((f) => !skip.has(f.toLowerCase())),
    };
  });
  // The core's signer checks keys and options now, so a bad key throws at createTransport, not per message.
  createDkimSigners(list);
  return list;
}
