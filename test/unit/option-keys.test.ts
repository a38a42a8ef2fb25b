/**
 * Every key list of option-keys.ts is tied to the interface it mirrors, in both directions, at compile
 * time (`npm test` runs tsc over test/): a key added to an interface and not to its list, or listed and
 * not in the interface, fails the build here. The runtime half checks each list refuses what is not in it.
 */
import { describe, expect, it } from 'vitest';
import type {
  JSONTransport,
  Mail,
  SendmailTransport,
  SMTPTransport,
  StreamTransport,
} from '../../src/compat/nodemailer/types.js';
import type { ConformDomainOptions } from '../../src/conform/domain/types.js';
import type { ProbeChecks, ProbeOptions } from '../../src/conform/probe.js';
import type { ConformOptions } from '../../src/conform/types.js';
import type { MessageInput } from '../../src/message/types.js';
import type { MxSendOptions, SmtpMxHandlerOptions } from '../../src/mx/handler.js';
import {
  CONFORM_DOMAIN_OPTION_KEYS,
  CONFORM_OPTION_KEYS,
  CONNECTION_OPTION_KEYS,
  HANDLER_OPTION_KEYS,
  MX_HANDLER_OPTION_KEYS,
  MX_SEND_OPTION_KEYS,
  MX_STS_OPTION_KEYS,
  NODEMAILER_TRANSPORT_KEYS,
  OUTBOX_OPTION_KEYS,
  OUTBOX_SEND_KEYS,
  OUTBOX_SEND_RAW_KEYS,
  OUTBOX_WORKER_OPTION_KEYS,
  POOL_OPTION_KEYS,
  POOL_PARAM_KEYS,
  PROBE_CHECKS_KEYS,
  PROBE_OPTION_KEYS,
  SEND_MESSAGE_OPTION_KEYS,
  SEND_RAW_OPTION_KEYS,
} from '../../src/option-keys.js';
import type { OutboxSendOptions, OutboxSendRawOptions, SmtpOutboxOptions } from '../../src/outbox/outbox.js';
import type { SmtpOutboxWorkerOptions } from '../../src/outbox/worker.js';
import type { PoolConnectionParams } from '../../src/pool/pool-key.js';
import type { SmtpConnectionPoolOptions } from '../../src/pool/pool-options.js';
import type { SendMessageOptions, SendRawOptions, SmtpProtocolHandlerOptions } from '../../src/send/handler.js';
import type { SmtpConnectionOptions } from '../../src/transport/connection-types.js';

/** `true` only when the list and the interface's keys are the same set; otherwise the keys that differ. */
type Same<List extends readonly string[], T> = [Exclude<keyof T, List[number]>] extends [never]
  ? [Exclude<List[number], keyof T>] extends [never]
    ? true
    : { listedButNotInInterface: Exclude<List[number], keyof T> }
  : { inInterfaceButNotListed: Exclude<keyof T, List[number]> };

/**
 * createTransport's keys: the transports' own options (their message defaults, Mail.Options, go in
 * createTransport's second argument; Mail.Options' plugin index signature is left out), the mailer
 * options nodemailer reads from the transport, and
 * smtpwire's `allowInsecureAuth`.
 */
type Declared<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] };
type TransportOwn<T> = Record<Exclude<Declared<T>, Declared<Mail.Options>>, unknown>;
type NodemailerTransportKeys = TransportOwn<SMTPTransport.Options> &
  TransportOwn<JSONTransport.Options> &
  TransportOwn<StreamTransport.Options> &
  TransportOwn<SendmailTransport.Options> &
  Record<
    | 'dkim'
    | 'disableFileAccess'
    | 'disableUrlAccess'
    | 'normalizeHeaderKey'
    | 'attachDataUrls'
    | 'maxRecipients'
    | 'allowInsecureAuth',
    unknown
  >;

const tied: {
  connection: Same<typeof CONNECTION_OPTION_KEYS, SmtpConnectionOptions>;
  pool: Same<typeof POOL_OPTION_KEYS, SmtpConnectionPoolOptions>;
  poolParams: Same<typeof POOL_PARAM_KEYS, PoolConnectionParams>;
  handler: Same<typeof HANDLER_OPTION_KEYS, SmtpProtocolHandlerOptions>;
  probe: Same<typeof PROBE_OPTION_KEYS, ProbeOptions>;
  probeChecks: Same<typeof PROBE_CHECKS_KEYS, ProbeChecks>;
  conform: Same<typeof CONFORM_OPTION_KEYS, ConformOptions>;
  conformDomain: Same<typeof CONFORM_DOMAIN_OPTION_KEYS, ConformDomainOptions>;
  sendMessage: Same<typeof SEND_MESSAGE_OPTION_KEYS, Omit<SendMessageOptions, keyof MessageInput>>;
  sendRaw: Same<typeof SEND_RAW_OPTION_KEYS, SendRawOptions>;
  mxHandler: Same<typeof MX_HANDLER_OPTION_KEYS, SmtpMxHandlerOptions>;
  mxSts: Same<typeof MX_STS_OPTION_KEYS, Exclude<SmtpMxHandlerOptions['mtaSts'], false | undefined>>;
  mxSend: Same<typeof MX_SEND_OPTION_KEYS, MxSendOptions>;
  outbox: Same<typeof OUTBOX_OPTION_KEYS, SmtpOutboxOptions>;
  outboxSend: Same<typeof OUTBOX_SEND_KEYS, OutboxSendOptions>;
  outboxSendRaw: Same<typeof OUTBOX_SEND_RAW_KEYS, OutboxSendRawOptions>;
  outboxWorker: Same<typeof OUTBOX_WORKER_OPTION_KEYS, SmtpOutboxWorkerOptions>;
  nodemailerTransport: Same<typeof NODEMAILER_TRANSPORT_KEYS, NodemailerTransportKeys>;
} = {
  connection: true,
  pool: true,
  poolParams: true,
  handler: true,
  probe: true,
  probeChecks: true,
  conform: true,
  conformDomain: true,
  sendMessage: true,
  sendRaw: true,
  mxHandler: true,
  mxSts: true,
  mxSend: true,
  outbox: true,
  outboxSend: true,
  outboxSendRaw: true,
  outboxWorker: true,
  nodemailerTransport: true,
};

describe('option key lists', () => {
  it('are tied to their interfaces (compile time) and hold no duplicates', () => {
    expect(Object.values(tied).every((v) => v === true)).toBe(true);
    for (const list of [
      CONNECTION_OPTION_KEYS,
      POOL_OPTION_KEYS,
      POOL_PARAM_KEYS,
      HANDLER_OPTION_KEYS,
      PROBE_OPTION_KEYS,
      PROBE_CHECKS_KEYS,
      CONFORM_OPTION_KEYS,
      CONFORM_DOMAIN_OPTION_KEYS,
      SEND_MESSAGE_OPTION_KEYS,
      SEND_RAW_OPTION_KEYS,
      MX_HANDLER_OPTION_KEYS,
      MX_STS_OPTION_KEYS,
      MX_SEND_OPTION_KEYS,
      OUTBOX_OPTION_KEYS,
      OUTBOX_SEND_KEYS,
      OUTBOX_SEND_RAW_KEYS,
      OUTBOX_WORKER_OPTION_KEYS,
      NODEMAILER_TRANSPORT_KEYS,
    ])
      expect(new Set(list).size).toBe(list.length);
  });
});
