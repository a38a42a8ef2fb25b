/**
 * The pool key: which parked connections a request may share. Checks the connection params once and
 * fills in encryption, protocol and port; the key is protocol, host (case-insensitive), port, encryption and a keyed
 * digest of the credentials (no secret is kept in plain text in the pool's maps or stats).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { SmtpEncryption, SmtpProtocol } from '../enums.js';
import { assertObject, checkCredentials, checkPoolParamKeys, resolveEndpoint } from '../options.js';
import type { AccessTokenProvider, AuthMethod } from '../protocol/auth.js';
import type { SmtpConnectionOptions } from '../transport/connection.js';

/** Where to connect and as whom: the pool key is host, port, encryption and the credentials. */
export interface PoolConnectionParams {
  host: string;
  /** Default from the encryption: 25, 587 or 465. */
  port?: number;
  username?: string;
  password?: string;
  /** For XOAUTH2: a token or a function that fetches a fresh one. */
  accessToken?: AccessTokenProvider;
  /** Default `'tls'` (STARTTLS required), as `SmtpConnection`. */
  encryption?: SmtpEncryption;
  /** Default: the strongest mechanism the server advertises. */
  authMethod?: AuthMethod;
  /** `'lmtp'` (RFC 2033; default port 24) or `'smtp'` (default). Part of the pool key. */
  protocol?: SmtpProtocol;
  /**
   * Everything else a new connection needs (tls, timeouts, clientName …). Not part of the key: the
   * options of the request that opens a connection apply to it.
   */
  connection?: Omit<SmtpConnectionOptions, 'host' | 'port' | 'encryption'>;
}

/**
 * A destination resolved once: its params checked and normalised (encryption, protocol and port filled
 * in) and its key computed. A caller that sends many messages to one destination keeps one (the
 * handler does) and hands it to `getConnection` each time: the check and the keyed digest (2.5 µs of
 * CPU) run once, not per checkout. It is itself a `PoolConnectionParams`, so it goes wherever params go.
 */
export class PoolKey implements PoolConnectionParams {
  readonly host: string;
  readonly port: number;
  readonly encryption: SmtpEncryption;
  readonly protocol: SmtpProtocol;
  readonly username?: string;
  readonly password?: string;
  readonly accessToken?: AccessTokenProvider;
  readonly authMethod?: AuthMethod;
  readonly connection?: NonNullable<PoolConnectionParams['connection']>;
  /** The pool's map key: protocol, host, port, encryption and an HMAC of the credentials. */
  readonly key: string;
  /** The key as shown in stats and errors (a shorter digest). */
  readonly label: string;

  /** @throws InvalidArgumentError as `getConnection` does for bad params. */
  constructor(params: PoolConnectionParams) {
    const normal = normaliseParams(params);
    this.host = normal.host;
    this.port = normal.port!;
    this.encryption = normal.encryption!;
    this.protocol = normal.protocol!;
    if (normal.username !== undefined) this.username = normal.username;
    if (normal.password !== undefined) this.password = normal.password;
    if (normal.accessToken !== undefined) this.accessToken = normal.accessToken;
    if (normal.authMethod !== undefined) this.authMethod = normal.authMethod;
    if (normal.connection !== undefined) this.connection = normal.connection;
    const { key, label } = poolKey(normal);
    this.key = key;
    this.label = label;
    Object.freeze(this);
  }
}

/** The key of `params`: the object itself when it is one, else resolved now. */
export function resolveParams(params: PoolConnectionParams | PoolKey): PoolKey {
  return params instanceof PoolKey ? params : new PoolKey(params);
}

function normaliseParams(params: PoolConnectionParams): PoolConnectionParams {
  // Every rule lives in options.ts, shared with the handler, SmtpConnection and probe.
  assertObject(params, 'params');
  checkPoolParamKeys(params);
  const { host, port, encryption, protocol } = resolveEndpoint(params);
  checkCredentials(params);
  return { ...params, host, encryption, port, protocol };
}

/**
 * Keys only need to agree within this process, so the credential digest is an HMAC-SHA256 under a
 * random per-process key: a digest seen in stats or a heap dump cannot be brute-forced offline.
 */
const KEY_SECRET = randomBytes(32);

/** Identity numbers for token functions: the same function is the same credential. */
const tokenFunctionIds = new WeakMap<object, number>();
let nextTokenFunctionId = 1;

/**
 * The pool key: host (case-insensitive), port, encryption and a keyed sha256 (HMAC) of the
 * credentials, so no password or token is ever kept in plain text in the pool's maps or stats.
 */
function poolKey(params: PoolConnectionParams): { key: string; label: string } {
  const host = params.host.toLowerCase();
  // LMTP and SMTP sessions to the same host and port are different things: the protocol is in the key.
  const where = `${params.protocol === 'lmtp' ? 'lmtp+' : ''}${params.encryption}://${host}:${params.port}`;
  if (params.username === undefined) return { key: where, label: where };
  let token: string | null = null;
  if (typeof params.accessToken === 'function') {
    let id = tokenFunctionIds.get(params.accessToken);
    if (id === undefined) {
      id = nextTokenFunctionId++;
      tokenFunctionIds.set(params.accessToken, id);
    }
    token = `fn:${id}`;
  } else if (typeof params.accessToken === 'string') {
    token = `str:${params.accessToken}`;
  }
  const digest = createHmac('sha256', KEY_SECRET)
    .update(JSON.stringify([params.username, params.password ?? null, token, params.authMethod ?? null]))
    .digest('hex');
  return { key: `${where}#${digest}`, label: `${where}#${digest.slice(0, 12)}` };
}
