/**
 * A connection's options, checked and resolved: every option's type and range at `new SmtpConnection`,
 * the endpoint (host, port, encryption, protocol) and timeouts resolved once, and what the TLS upgrade
 * takes from them. The rules themselves live in options.ts.
 */
import type { SmtpEncryption, SmtpProtocol } from '../enums.js';
import { InvalidArgumentError } from '../errors.js';
import {
  checkBooleans,
  checkClientName,
  checkConnectionKeys,
  checkFunction,
  checkLocalAddress,
  positiveInteger,
  resolveEndpoint,
  resolveTimeouts,
  type Timeouts,
} from '../options.js';
import type { UpgradeOptions } from './connect.js';
import type { SmtpConnectionOptions } from './connection-types.js';

export interface ResolvedConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly encryption: SmtpEncryption;
  readonly protocol: SmtpProtocol;
  readonly timeouts: Timeouts;
}

/** @throws InvalidArgumentError naming the field. */
export function resolveConnectionOptions(options: SmtpConnectionOptions): ResolvedConnectionOptions {
  if (options === null || typeof options !== 'object')
    throw new InvalidArgumentError('SmtpConnection options must be an object', { field: 'options' });
  checkConnectionKeys(options);
  const { host, port, encryption, protocol } = resolveEndpoint(options);
  checkClientName(options.clientName);
  checkBooleans(options, ['opportunisticTls', 'pipelining', 'chunking', 'allowInsecureAuth']);
  checkFunction(options.onTranscript, 'onTranscript');
  checkFunction(options.verifyPeer, 'verifyPeer');
  checkLocalAddress(options.localAddress);
  const timeouts = resolveTimeouts(options.timeouts);
  if (options.chunkSize !== undefined) positiveInteger(options.chunkSize, undefined, 'chunkSize');
  if (options.maxLineLength !== undefined) positiveInteger(options.maxLineLength, undefined, 'maxLineLength');
  if (options.maxReplyLines !== undefined) positiveInteger(options.maxReplyLines, undefined, 'maxReplyLines');
  return { host, port, encryption, protocol, timeouts };
}

/** What `upgradeToTls` takes: implicit TLS (port 465) or STARTTLS; `endpoint` is the resolved one. */
export function tlsUpgradeOptions(
  endpoint: { readonly host: string; readonly port: number },
  options: SmtpConnectionOptions,
  timeouts: Timeouts,
  implicit: boolean,
  signal: AbortSignal | undefined,
): UpgradeOptions {
  return {
    host: endpoint.host,
    port: endpoint.port,
    tls: options.tls,
    tlsTimeout: timeouts.tls,
    implicit,
    signal,
    sessions: options.tlsSessions,
    verifyPeer: options.verifyPeer,
  };
}
