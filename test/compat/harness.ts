/**
 * The compatibility suite's harness: every example program is a function of the `nodemailer`
 * module it is given, run once with `nodemailer` and once with `smtpwire/nodemailer` against
 * identical servers; what the servers received and what the program saw are reduced to views that
 * drop only what legitimately differs (ids, dates, boundaries, timings, transfer encodings).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ParsedMail, simpleParser } from 'mailparser';
import realNodemailer from 'nodemailer';
import ours from '../../src/compat/nodemailer.js';
import { decodeWords } from '../../src/message/mime/encodings.js';
import { testCertificates } from '../../src/testing/certs.js';
import {
  type ReceivedMessage,
  startSmtpServer,
  type TestServer,
  type TestServerOptions,
} from '../helpers/smtp-server.js';

// biome-ignore lint/suspicious/noExplicitAny: the programs are nodemailer's untyped usage
export type Nodemailer = { createTransport: (...args: any[]) => any; [k: string]: any };
export const real = realNodemailer as unknown as Nodemailer;
export const mine = ours as unknown as Nodemailer;

export interface Target {
  host: string;
  port: number;
  tls: { ca: string; servername: string };
  server: TestServer;
}

export interface Example {
  /** The documented feature (or error case) this program shows. */
  name: string;
  kind: 'feature' | 'error';
  server?: TestServerOptions;
  run(nodemailer: Nodemailer, target: Target): Promise<unknown>;
  /** Reduces what the program returned and the server received to what must be equal. */
  view?(value: unknown, messages: ReceivedMessage[]): Promise<unknown> | unknown;
}

let scratch: string | null = null;

/** A path in the suite's own temp directory (files the programs read, the fake sendmail). */
export function scratchPath(name: string): string {
  scratch ??= mkdtempSync(join(tmpdir(), 'smtpwire-compat-'));
  return join(scratch, name);
}

/** Removes the temp directory (afterAll). */
export function removeScratch(): void {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = null;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** What a reader sees in a message (mailparser), not its bytes. */
export async function messageView(raw: Buffer | string) {
  const p: ParsedMail = await simpleParser(raw);
  const addr = (a: ParsedMail['to']) =>
    (Array.isArray(a) ? a : a ? [a] : []).flatMap((x) => x.value.map((v) => ({ name: v.name, address: v.address })));
  const headers: Record<string, unknown> = {};
  for (const line of p.headerLines) {
    const key = line.key;
    if (/^(date|message-id|content-type|content-transfer-encoding|mime-version|x-mailer|dkim-signature)$/.test(key))
      continue;
    const value = p.headers.get(key);
    // Transfer encodings differ legitimately (Q or B words, where a word starts): compare the decoded text.
    headers[key] = typeof value === 'string' ? decodeWords(value) : JSON.parse(JSON.stringify(value ?? null));
  }
  return {
    from: addr(p.from),
    to: addr(p.to),
    cc: addr(p.cc),
    replyTo: addr(p.replyTo),
    subject: p.subject,
    text: p.text?.replace(/\r\n/g, '\n').trimEnd() ?? null,
    html: typeof p.html === 'string' ? p.html.trim() : null,
    headers,
    attachments: p.attachments.map((a) => ({
      filename: a.filename ?? null,
      contentType: a.contentType,
      sha: sha(a.content),
      cid: a.cid ? 'cid' : null,
      disposition: a.contentDisposition,
    })),
  };
}

/** The message and envelope a server received. */
export async function receivedView(m: ReceivedMessage) {
  return { envelope: { from: m.from, to: m.to }, message: await messageView(m.raw) };
}

/** `info` as programs read it; ids, timings and sizes only by type. */
export function infoView(info: Record<string, unknown> | undefined) {
  if (!info || typeof info !== 'object') return info;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(info)) {
    if (k === 'result') continue;
    if (k === 'messageId') out[k] = typeof v === 'string' && /^<[^<>]+@[^<>]+>$/.test(v);
    else if (k === 'envelopeTime' || k === 'messageTime' || k === 'messageSize') out[k] = typeof v;
    else if (k === 'response') out[k] = String(v).replace(/[0-9a-f]{8,}/gi, 'ID');
    else if (k === 'rejectedErrors') out[k] = (v as unknown[]).map((e) => errorView(e));
    else if (k === 'message') out[k] = typeof v;
    else out[k] = v;
  }
  return out;
}

/** An error's fields programs switch on. */
export function errorView(e: unknown) {
  if (!(e instanceof Error)) return { notAnError: e === undefined ? 'undefined' : typeof e };
  const err = e as Error & Record<string, unknown>;
  const out: Record<string, unknown> = { isError: true };
  for (const k of ['code', 'command', 'responseCode', 'rejected', 'recipient', 'errno', 'syscall', 'address', 'port']) {
    if (err[k] !== undefined) out[k] = err[k];
  }
  if (typeof err.response === 'string') out.response = err.response.replace(/[0-9a-f]{8,}/gi, 'ID');
  if (Array.isArray(err.rejectedErrors)) out.rejectedErrors = err.rejectedErrors.map((x) => errorView(x));
  return out;
}

export interface Run {
  value: unknown;
  error: unknown;
  messages: ReceivedMessage[];
}

/** Runs one example with one module against a fresh server. */
export async function runWith(nm: Nodemailer, example: Example): Promise<Run> {
  const server = await startSmtpServer(example.server ?? {});
  const target: Target = {
    host: '127.0.0.1',
    port: server.port,
    tls: { ca: testCertificates().ca, servername: 'localhost' },
    server,
  };
  try {
    const value = await example.run(nm, target);
    return { value, error: undefined, messages: server.messages };
  } catch (error) {
    return { value: undefined, error, messages: server.messages };
  } finally {
    await server.close();
  }
}

/** The comparable view of a run: the example's own, or messages + info/error. */
export async function view(example: Example, run: Run): Promise<unknown> {
  if (run.error !== undefined) return { thrown: errorView(run.error) };
  if (example.view) return example.view(run.value, run.messages);
  const values = Array.isArray(run.value) ? run.value : [run.value];
  return {
    received: await Promise.all(run.messages.map(receivedView)),
    results: values.map((v) => (v instanceof Error ? { error: errorView(v) } : infoView(v as Record<string, unknown>))),
  };
}
