/**
 * Reading the spool directories the servers deliver into.
 *
 * Format (shared by py/spool_pipe.py, py/aiosmtpd_server.py and smtp-server-child.mjs):
 * `ID.eml` holds the delivered bytes, `ID.json` the envelope
 * `{ id, sender, recipients, lineEnding, ...extras }`. Writers rename the `.eml` into
 * place first and the `.json` last, so a `.json` means the message is complete.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeliveredMessage, ServerName } from './types.js';

/** How often {@link waitForSpool} looks at the directory. */
const POLL_INTERVAL_MS = 25;

/** Every complete message in `dir`, oldest first. */
export async function readSpool(dir: string, server: ServerName): Promise<DeliveredMessage[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
  const out: DeliveredMessage[] = [];
  for (const name of names) {
    const id = name.slice(0, -'.json'.length);
    const meta = JSON.parse(await readFile(join(dir, name), 'utf8')) as Record<string, unknown>;
    const file = join(dir, `${id}.eml`);
    out.push({
      id,
      server,
      raw: await readFile(file),
      lineEnding: meta.lineEnding === 'lf' ? 'lf' : 'crlf',
      sender: typeof meta.sender === 'string' ? meta.sender : '',
      recipients: Array.isArray(meta.recipients) ? meta.recipients.map(String) : [],
      file,
      meta,
    });
  }
  return out;
}

/**
 * Polls `dir` until it holds at least `count` messages.
 * @throws Error with the count seen and `logTail()` after `timeoutMs`.
 */
export async function waitForSpool(
  dir: string,
  server: ServerName,
  count: number,
  timeoutMs: number,
  logTail: () => Promise<string>,
): Promise<DeliveredMessage[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const messages = await readSpool(dir, server);
    if (messages.length >= count) return messages;
    if (Date.now() >= deadline) {
      throw new Error(
        `${server}: expected ${count} delivered message(s) within ${timeoutMs} ms, found ${messages.length}\n` +
          `--- ${server} log tail ---\n${await logTail()}`,
      );
    }
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
  }
}

/** Removes every file (complete or in progress) from the spool directory. */
export async function clearSpool(dir: string): Promise<void> {
  const names = await readdir(dir);
  await Promise.all(names.map((n) => rm(join(dir, n), { force: true })));
}

/**
 * Converts delivered bytes to CRLF line endings, for comparing a Postfix delivery
 * (LF) with what the client sent. Only LF not already preceded by CR is changed,
 * so a bare CR inside a line stays as it is.
 */
export function toCrlf(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  const CR = Buffer.from('\r');
  let start = 0;
  // indexOf keeps this linear and fast on a 27 MB base64 attachment.
  for (let lf = raw.indexOf(0x0a); lf >= 0; lf = raw.indexOf(0x0a, lf + 1)) {
    if (lf === 0 || raw[lf - 1] !== 0x0d) {
      parts.push(raw.subarray(start, lf), CR);
      start = lf;
    }
  }
  parts.push(raw.subarray(start));
  return Buffer.concat(parts);
}

/**
 * Drops the first occurrences of `names` (case-insensitive) at the top of the header
 * block, with their folded continuation lines: the trace headers a server prepends
 * (RFC 5321 §4.4). Works on either line ending.
 */
export function stripAddedHeaders(raw: Buffer, names: readonly string[]): Buffer {
  if (names.length === 0) return raw;
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  let offset = 0;
  for (;;) {
    const colon = raw.indexOf(0x3a, offset);
    const eol = raw.indexOf(0x0a, offset);
    if (colon < 0 || eol < 0 || colon > eol) break;
    const name = raw.subarray(offset, colon).toString('latin1').toLowerCase();
    if (!wanted.has(name)) break;
    // Skip the header line and its folded continuations (lines starting with SP or HTAB).
    let next = eol + 1;
    while (next < raw.length && (raw[next] === 0x20 || raw[next] === 0x09)) {
      const more = raw.indexOf(0x0a, next);
      next = more < 0 ? raw.length : more + 1;
    }
    offset = next;
  }
  return raw.subarray(offset);
}
