/**
 * nodemailer's `createTestAccount` (a disposable Ethereal account, from the API at `ETHEREAL_API`,
 * cached for the process as nodemailer caches it) and `getTestMessageUrl(info)` (the web URL of a
 * message an Ethereal server took, or `false` for any other reply).
 */
import { boundedText } from './content.js';
import { nodemailerError } from './errors.js';
import type { TestAccount } from './types.js';

const api = (): string => (process.env.ETHEREAL_API || 'https://api.nodemailer.com').replace(/\/+$/, '');
const web = (): string => (process.env.ETHEREAL_WEB || 'https://ethereal.email').replace(/\/+$/, '');
const caching = (): boolean =>
  ['true', 'yes', 'y', '1'].includes((process.env.ETHEREAL_CACHE || 'yes').toString().trim().toLowerCase());

/** The API must answer within this, or the call fails saying the service cannot be reached. */
const API_TIMEOUT_MS = 15_000;
const MAX_RESPONSE = 64 * 1024;

let cached: TestAccount | null = null;

async function fetchAccount(apiUrl: string): Promise<TestAccount> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const key = (process.env.ETHEREAL_API_KEY || '').replace(/\s*/g, '');
  if (key) headers.authorization = `Bearer ${key}`;
  let text: string;
  try {
    const res = await fetch(`${apiUrl}/user`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ requestor: 'nodemailer', version: '10.6.1' }),
      signal: AbortSignal.timeout(API_TIMEOUT_MS),
    });
    text = await boundedText(res, MAX_RESPONSE);
  } catch (err) {
    throw nodemailerError(
      'ECONNECTION',
      `createTestAccount: the test account service at ${apiUrl} cannot be reached (${(err as Error).message}); set ETHEREAL_API or give an apiUrl`,
      { cause: err, command: 'API' },
    );
  }
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw nodemailerError('EPROTOCOL', `createTestAccount: ${apiUrl} did not answer with JSON`, { cause: err });
  }
  if (data.status !== 'success' || data.error) throw new Error(String(data.error || 'Request failed'));
  delete data.status;
  return data as unknown as TestAccount;
}

type AccountCallback = (err: Error | null, account?: TestAccount) => void;

export function createTestAccount(apiUrl?: string): Promise<TestAccount>;
export function createTestAccount(callback: AccountCallback): undefined;
export function createTestAccount(apiUrl: string, callback: AccountCallback): undefined;
export function createTestAccount(
  apiUrl?: string | AccountCallback,
  callback?: AccountCallback,
): Promise<TestAccount> | undefined {
  const cb = typeof apiUrl === 'function' ? apiUrl : callback;
  const url = typeof apiUrl === 'string' && apiUrl ? apiUrl.replace(/\/+$/, '') : api();
  const promise = (async () => {
    if (caching() && cached) return cached;
    cached = await fetchAccount(url);
    return cached;
  })();
  if (!cb) return promise;
  promise.then(
    (a) => cb(null, a),
    (e: Error) => cb(e),
  );
  return undefined;
}

/** The Ethereal URL of a sent message: read from the `[STATUS=… MSGID=…]` tail of its reply. */
export function getTestMessageUrl(info: { response?: unknown } | null | undefined): string | false {
  const response = info?.response ? String(info.response) : '';
  if (response.length <= 2 || !response.endsWith(']')) return false;
  const open = response.indexOf('[', response.lastIndexOf(']', response.length - 2) + 1);
  if (open < 0 || open >= response.length - 2) return false;
  const props = new Map<string, string>();
  for (const m of response.slice(open + 1, -1).matchAll(/\b([A-Z0-9]+)=(\S+)/g)) props.set(m[1]!, m[2]!);
  if (!props.has('STATUS') || !props.has('MSGID')) return false;
  return `${cached?.web || web()}/message/${props.get('MSGID')}`;
}
