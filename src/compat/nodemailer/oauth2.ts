/**
 * nodemailer's OAuth2 `auth` (XOAUTH2 with token refresh): a cached access token, refreshed with
 * `refreshToken` at `accessUrl` (Node's `fetch`, a form POST as RFC 6749 §6) or by the caller's
 * `provisionCallback`, when missing, expired, or refused by the server; every new token is
 * announced with a `'token'` event `{ user, accessToken, expires }`, as nodemailer does.
 */
import { EventEmitter } from 'node:events';
import { boundedText } from './content.js';
import { nodemailerError } from './errors.js';

/** Google's token endpoint, nodemailer's default `accessUrl`. */
export const DEFAULT_ACCESS_URL = 'https://accounts.google.com/o/oauth2/token';

/** The longest a token endpoint may take before the login fails. */
const TOKEN_TIMEOUT_MS = 30_000;
/** A token response larger than this is not a token response. */
const MAX_TOKEN_RESPONSE = 64 * 1024;

export type ProvisionCallback = (
  user: string,
  renew: boolean,
  callback: (err: Error | null, accessToken?: string, expires?: number) => void,
) => void;

export interface OAuth2Options {
  user?: string | undefined;
  clientId?: string | undefined;
  clientSecret?: string | undefined;
  refreshToken?: string | undefined;
  accessToken?: string | undefined;
  /** When the access token expires, ms since the epoch. */
  expires?: number | undefined;
  accessUrl?: string | undefined;
  /** Extra form fields for the token request (nodemailer's `customParams`). */
  customParams?: Record<string, string> | undefined;
  customHeaders?: Record<string, string> | undefined;
  provisionCallback?: ProvisionCallback | undefined;
  /** nodemailer's `transporter.set('oauth2_provision_cb', fn)`, looked up at each refresh. */
  lookupProvisionCallback?: (() => ProvisionCallback | undefined) | undefined;
}

export interface TokenEvent {
  user: string;
  accessToken: string;
  expires: number;
}

export class OAuth2Token extends EventEmitter {
  readonly user: string;
  readonly #options: OAuth2Options;
  #accessToken: string | undefined;
  #expires: number;
  #pending: Promise<string> | null = null;

  constructor(options: OAuth2Options) {
    super();
    this.#options = options;
    this.user = options.user ?? '';
    this.#accessToken = options.accessToken;
    this.#expires = Number(options.expires) || 0;
  }

  /** Whether a new token can be obtained (else a refused token is final). */
  get canRefresh(): boolean {
    return this.#provision() !== undefined || this.#options.refreshToken !== undefined;
  }

  #provision(): ProvisionCallback | undefined {
    return this.#options.lookupProvisionCallback?.() ?? this.#options.provisionCallback;
  }

  /** The current token, refreshed first when missing, expired, or `renew` (the server refused it). */
  getToken(renew = false): Promise<string> {
    const valid = this.#accessToken !== undefined && (!this.#expires || this.#expires > Date.now());
    if (valid && !renew) return Promise.resolve(this.#accessToken!);
    this.#pending ??= this.#refresh(renew).finally(() => {
      this.#pending = null;
    });
    return this.#pending;
  }

  async #refresh(renew: boolean): Promise<string> {
    const provision = this.#provision();
    if (provision) {
      const { token, expires } = await new Promise<{ token: string; expires: number }>((resolve, reject) =>
        provision(this.user, renew, (err, token, expires) =>
          err || !token
            ? reject(err ?? new Error('provisionCallback gave no token'))
            : resolve({ token, expires: Number(expires) || 0 }),
        ),
      ).catch((err: Error) => {
        throw nodemailerError('EAUTH', `OAuth2 provisioning failed: ${err.message}`, {
          cause: err,
          command: 'AUTH XOAUTH2',
        });
      });
      return this.#update(token, expires);
    }
    const { clientId, clientSecret, refreshToken } = this.#options;
    if (!refreshToken) {
      if (this.#accessToken && !renew) return this.#accessToken;
      throw nodemailerError('EAUTH', 'Can not create new access token for user: no refreshToken', {
        command: 'AUTH XOAUTH2',
      });
    }
    const form = new URLSearchParams({
      ...(clientId ? { client_id: clientId } : {}),
      ...(clientSecret ? { client_secret: clientSecret } : {}),
      refresh_token: refreshToken,
      grant_type: 'refresh_token',
      ...this.#options.customParams,
    });
    const url = this.#options.accessUrl ?? DEFAULT_ACCESS_URL;
    let body: { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown };
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...this.#options.customHeaders },
        body: form.toString(),
        signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
      });
      // `null` is JSON too: read as a reply without a token, not a TypeError below.
      body = JSON.parse(await boundedText(res, MAX_TOKEN_RESPONSE)) ?? {};
    } catch (err) {
      throw nodemailerError('EAUTH', `Failed to generate new access token: ${(err as Error).message}`, {
        cause: err,
        command: 'AUTH XOAUTH2',
      });
    }
    if (typeof body.access_token !== 'string' || body.access_token === '') {
      const why =
        typeof body.error === 'string'
          ? `${body.error}${body.error_description ? `: ${body.error_description}` : ''}`
          : 'no access_token';
      throw nodemailerError('EAUTH', `Failed to generate new access token (${why})`, { command: 'AUTH XOAUTH2' });
    }
    const seconds = Number(body.expires_in);
    return this.#update(body.access_token, Number.isFinite(seconds) && seconds > 0 ? Date.now() + seconds * 1000 : 0);
  }

  #update(token: string, expires: number): string {
    this.#accessToken = token;
    this.#expires = expires;
    this.emit('token', { user: this.user, accessToken: token, expires } satisfies TokenEvent);
    return token;
  }
}
