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
 * Normalised params and their key. Frozen params objects (the handler freezes its own) are resolved
 * once. Kept because it pays (2026-11-30, Node 20, this VM): the keyed digest costs 2.5 µs of CPU per
 * call, ~2 % of a 1 KB `sendMessage` (~115 µs), and a WeakMap hit is a few ns.
 */
const resolvedParams = new WeakMap<
  PoolConnectionParams,
  { normal: PoolConnectionParams; key: string; label: string }
>();
export function resolveParams(params: PoolConnectionParams): {
  normal: PoolConnectionParams;
  key: string;
  label: string;
} {
  const cached = params !== null && typeof params === 'object' ? resolvedParams.get(params) : undefined;
  if (cached) return cached;
  const normal = normaliseParams(params);
  const resolved = { normal, ...poolKey(normal) };
  if (Object.isFrozen(params)) resolvedParams.set(params, resolved);
  return resolved;
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
