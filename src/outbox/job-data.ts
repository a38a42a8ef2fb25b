/**
 * What an outbox job carries in Redis, and the checks on the way in and out. Jobs are JSON: a live
 * stream, a Buffer or a function cannot survive a queue, and a credential must not travel in one (the
 * worker's handler options hold those). The worker re-reads job data as untrusted input: anything
 * that is not a job this module wrote is INVALID, never a crash.
 */
import { createHash, randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { parseAddress } from '../message/address.js';
import { assertMessageId, messageIdDomain } from '../message/mime/headers.js';
import { readMessageId } from '../message/prepare.js';
import type { AddressInput } from '../message/types.js';
import { checkDsn, type DsnOptions } from '../protocol/dsn.js';

/** Bumped when the shape changes; a worker refuses versions it does not know (INVALID). */
export const JOB_DATA_VERSION = 1;

/** A `sendMessage` options object, minus what cannot be queued. */
export type QueuedMessage = Record<string, unknown> & { messageId: string };

/** The data of one outbox job. */
export type OutboxJobData =
  | { v: typeof JOB_DATA_VERSION; kind: 'message'; message: QueuedMessage }
  | {
      v: typeof JOB_DATA_VERSION;
      kind: 'raw';
      envelope: { from: string; to: string[]; dsn?: DsnOptions };
      /** The message as UTF-8 text, or as base64 when it holds bytes that are not UTF-8. */
      raw: { text: string } | { base64: string };
      messageId: string | null;
    };

/** `sendMessage` options that cannot be queued, and what to do instead. */
const NOT_QUEUEABLE: Readonly<Record<string, string>> = {
  signal: 'an AbortSignal cannot be queued',
  onBeforeHandOver: 'the worker owns the hand-over hook',
  retry: "retries are the queue's: set attempts in defaultJobOptions",
  dkim: "a private key must not travel in job data: give dkim in the worker's handler options",
};

/**
 * Throws for the first value in `value` that JSON would not carry faithfully: a Buffer, a stream,
 * a function, a Date, a class instance, a symbol, a bigint, a non-finite number or undefined in an array.
 * @throws InvalidArgumentError naming the path, e.g. `message.attachments[0].content`.
 */
export function assertJsonSafe(value: unknown, path: string): void {
  const fail = (what: string, hint = ''): InvalidArgumentError =>
    new InvalidArgumentError(`${path} is ${what}: outbox jobs are stored as JSON${hint}`, { field: path });
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw fail(String(value));
    return;
  }
  if (typeof value !== 'object') throw fail(`a ${typeof value}`);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array)
    throw fail('binary data', "; give attachments as { data: '<base64>' } or { path }");
  if (typeof (value as { pipe?: unknown }).pipe === 'function')
    throw fail(
      'a stream',
      '; give attachments as { data: base64 } or { path } (read by the worker, under its attachmentRoot)',
    );
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (item === undefined) throw fail('undefined', ` (at ${path}[${i}])`);
      assertJsonSafe(item, `${path}[${i}]`);
    });
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw fail(`a ${proto?.constructor?.name ?? 'class instance'}`);
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined) assertJsonSafe(item, `${path}.${key}`);
  }
}

/**
 * A fresh RFC 5322 Message-ID on the sender's domain (so a queued message keeps one across attempts),
 * taken as the message builder takes it: the address module parses the sender. An address it refuses
 * gets `localhost` here; the worker's send then refuses the message itself (INVALID).
 */
function newMessageId(from: unknown): string {
  let wire = '';
  try {
    wire = parseAddress(from as AddressInput).wire;
  } catch {
    // Not a usable sender: messageIdDomain('') is `localhost`.
  }
  return `<${randomBytes(16).toString('hex')}@${messageIdDomain(wire)}>`;
}

/**
 * Job data for `SmtpOutbox.send`: the caller's options checked for JSON safety, with a Message-ID fixed
 * now (every attempt sends the same one; it names the job when no jobId is given).
 * @throws InvalidArgumentError for a key that cannot be queued, a non-JSON value or a bad Message-ID.
 */
export function messageJobData(message: unknown): OutboxJobData & { kind: 'message' } {
  if (!message || typeof message !== 'object' || Array.isArray(message))
    throw new InvalidArgumentError('the message must be a sendMessage options object', { field: 'message' });
  for (const key of Object.keys(message)) {
    const why = NOT_QUEUEABLE[key];
    if (why !== undefined && (message as Record<string, unknown>)[key] !== undefined)
      throw new InvalidArgumentError(`message.${key} cannot be queued: ${why}`, { field: `message.${key}` });
  }
  assertJsonSafe(message, 'message');
  checkDsn((message as { dsn?: unknown }).dsn, 'message.dsn');
  const given = (message as { messageId?: unknown }).messageId;
  if (given !== undefined && typeof given !== 'string')
    throw new InvalidArgumentError('message.messageId must be a string like <id@domain>', {
      field: 'message.messageId',
    });
  if (given !== undefined) assertMessageId(given);
  const messageId = given ?? newMessageId((message as { fromAddress?: unknown }).fromAddress);
  // A JSON round trip drops undefined values, as Redis will.
  const copy = JSON.parse(JSON.stringify(message)) as Record<string, unknown>;
  return { v: JOB_DATA_VERSION, kind: 'message', message: { ...copy, messageId } };
}

/**
 * Job data for `SmtpOutbox.sendRaw`. The Message-ID is the caller's, else read from the message's header.
 * @throws InvalidArgumentError for a stream or another non-byte message, or an envelope that is not strings.
 */
export function rawJobData(
  envelope: unknown,
  message: unknown,
  messageId: string | undefined,
): OutboxJobData & { kind: 'raw' } {
  const env = envelope as { from?: unknown; to?: unknown; dsn?: unknown } | null;
  if (!env || typeof env.from !== 'string' || !Array.isArray(env.to) || !env.to.every((t) => typeof t === 'string'))
    throw new InvalidArgumentError('envelope must be { from: string, to: string[] }', { field: 'envelope' });
  const dsn = checkDsn(env.dsn, 'envelope.dsn');
  if (dsn !== undefined) assertJsonSafe(dsn, 'envelope.dsn');
  let raw: { text: string } | { base64: string };
  let bytes: Buffer;
  if (typeof message === 'string') {
    raw = { text: message };
    bytes = Buffer.from(message, 'utf8');
  } else if (message instanceof Uint8Array) {
    bytes = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    const text = bytes.toString('utf8');
    raw = Buffer.from(text, 'utf8').equals(bytes) ? { text } : { base64: bytes.toString('base64') };
  } else {
    throw new InvalidArgumentError(
      'a queued raw message must be a string or bytes (a stream cannot be stored in a job)',
      { field: 'message' },
    );
  }
  if (messageId !== undefined) assertMessageId(messageId);
  return {
    v: JOB_DATA_VERSION,
    kind: 'raw',
    envelope: {
      from: env.from,
      to: [...(env.to as string[])],
      ...(dsn === undefined ? {} : { dsn: JSON.parse(JSON.stringify(dsn)) as DsnOptions }),
    },
    raw,
    messageId: messageId ?? readMessageId(bytes),
  };
}

/**
 * The BullMQ job id: the caller's, else one derived from the Message-ID, so the same message queued
 * twice is one job. BullMQ refuses integer-looking ids and ids with `:`.
 * @throws InvalidArgumentError for a jobId BullMQ would refuse.
 */
export function jobIdFor(jobId: unknown, messageId: string | null): string | undefined {
  if (jobId !== undefined) {
    if (typeof jobId !== 'string' || jobId === '' || jobId.includes(':') || /^\d+$/.test(jobId))
      throw new InvalidArgumentError('jobId must be a non-empty string without ":" that is not an integer', {
        field: 'jobId',
      });
    return jobId;
  }
  if (messageId === null) return undefined;
  return `msgid-${createHash('sha256').update(messageId).digest('hex').slice(0, 40)}`;
}

/** A job's data as the worker reads it: a queued message, or why it is not one (INVALID). */
export function readJobData(data: unknown):
  | { kind: 'message'; message: QueuedMessage }
  | {
      kind: 'raw';
      envelope: { from: string; to: string[]; dsn?: DsnOptions };
      raw: Buffer | string;
      messageId: string | null;
    }
  | { kind: 'invalid'; reason: string; messageId: string | null } {
  const d = data as Partial<Record<string, unknown>> | null;
  if (!d || typeof d !== 'object') return { kind: 'invalid', reason: 'job data is not an object', messageId: null };
  if (d.v !== JOB_DATA_VERSION)
    return {
      kind: 'invalid',
      reason: `job data version ${JSON.stringify(d.v)} is not ${JOB_DATA_VERSION}`,
      messageId: null,
    };
  if (d.kind === 'message') {
    const m = d.message as QueuedMessage | undefined;
    if (!m || typeof m !== 'object' || typeof m.messageId !== 'string')
      return { kind: 'invalid', reason: 'job data holds no message with a Message-ID', messageId: null };
    for (const key of Object.keys(NOT_QUEUEABLE))
      if (key in m)
        return { kind: 'invalid', reason: `job data holds ${key}, which cannot be queued`, messageId: m.messageId };
    return { kind: 'message', message: m };
  }
  if (d.kind === 'raw') {
    const env = d.envelope as { from?: unknown; to?: unknown; dsn?: unknown } | undefined;
    const raw = d.raw as { text?: unknown; base64?: unknown } | undefined;
    const messageId = typeof d.messageId === 'string' ? d.messageId : null;
    if (!env || typeof env.from !== 'string' || !Array.isArray(env.to) || !env.to.every((t) => typeof t === 'string'))
      return { kind: 'invalid', reason: 'job data holds no valid envelope', messageId };
    // The DSN request is checked by the handler (INVALID when job data was tampered with).
    const envelope = {
      from: env.from,
      to: env.to as string[],
      ...(env.dsn === undefined ? {} : { dsn: env.dsn as DsnOptions }),
    };
    if (typeof raw?.text === 'string') return { kind: 'raw', envelope, raw: raw.text, messageId };
    if (typeof raw?.base64 === 'string') {
      // Buffer.from skips what is not base64: a corrupt job would go out as a truncated or empty message.
      const bytes = Buffer.from(raw.base64, 'base64');
      if (bytes.length === 0 || bytes.toString('base64') !== raw.base64)
        return { kind: 'invalid', reason: 'job data holds message bytes that are not valid base64', messageId };
      return { kind: 'raw', envelope, raw: bytes, messageId };
    }
    return { kind: 'invalid', reason: 'job data holds no message bytes', messageId };
  }
  return { kind: 'invalid', reason: `job data kind ${JSON.stringify(d.kind)} is unknown`, messageId: null };
}
