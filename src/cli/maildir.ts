/**
 * Maildir delivery for `smtpwire sink --maildir DIR` (the layout of qmail's maildir(5), as Dovecot and
 * mutt read it): the message is written under `tmp/` with a unique name, flushed to disk, then linked
 * into `new/` and unlinked from `tmp/`, so a reader never sees a partial file in `new/`.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

let sequence = 0;

/** maildir(5): `/` and `:` in the host part are written `\057` and `\072`. */
const HOST = hostname().replace(/\//g, '\\057').replace(/:/g, '\\072');

/** Creates `dir/tmp`, `dir/new` and `dir/cur` (mode 0700) when missing. */
export async function prepareMaildir(dir: string): Promise<void> {
  for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(dir, sub), { recursive: true, mode: 0o700 });
}

/**
 * Delivers one message; resolves with its path relative to `dir` (`new/…`) once it is on disk.
 * The envelope sender goes first as `Return-Path:` (RFC 5321 §4.4), as a delivering MTA writes it.
 * @throws the file system's error; the tmp file is removed then.
 */
export async function deliverToMaildir(dir: string, returnPath: string, data: Buffer): Promise<string> {
  const now = Date.now();
  const seconds = Math.floor(now / 1000);
  const micros = (now % 1000) * 1000;
  // time.M<µs>P<pid>Q<n>R<random>.host: unique per process and delivery, and across processes.
  const name = `${seconds}.M${micros}P${process.pid}Q${++sequence}R${randomBytes(4).toString('hex')}.${HOST}`;
  const tmp = join(dir, 'tmp', name);
  const file = await open(tmp, 'wx', 0o600);
  try {
    await file.writeFile(Buffer.concat([Buffer.from(`Return-Path: <${returnPath}>\r\n`, 'utf8'), data]));
    await file.sync();
  } catch (err) {
    await file.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await file.close();
  try {
    // link() fails rather than replace an existing file; then the tmp name is dropped.
    await link(tmp, join(dir, 'new', name));
  } finally {
    await unlink(tmp).catch(() => {});
  }
  return `new/${name}`;
}
