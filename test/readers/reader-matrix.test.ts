/**
 * The MIME reader matrix (issue 12): messages from property generators, built by buildMessage,
 * read back by independent readers that must each find exactly what was put in:
 *
 * - Python `email` under policy.compat32 and policy.default (/usr/bin/python3, one process),
 * - mailparser,
 * - ripmime (Debian), for the part bytes and the file names it would save.
 *
 * Compared: each part's bytes, content type, charset, file name, Content-ID and disposition; the
 * decoded Subject, address lists (names with commas, quotes and any script; groups), custom
 * headers, and the fields of the priority, list (one-click unsubscribe) and date options. A reader that is not installed skips loudly (fails under CI), like the real servers.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import libmime from 'libmime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMessage } from '../../src/message/mime/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import { type Flat, type GeneratedMessage, message } from './generators.js';
import {
  type MailparserView,
  PythonReader,
  type PythonView,
  RIPMIME,
  readWithMailparser,
  readWithRipmime,
  SYSTEM_PYTHON,
  unavailable,
} from './readers.js';

/** Messages per run (the issue asks for at least 200). */
const RUNS = Number(process.env.READER_MATRIX_RUNS ?? 220);
const CRLF = '\r\n';

const pythonMissing = await unavailable(SYSTEM_PYTHON);
const ripmimeMissing = await unavailable(RIPMIME);

/** One leaf part every reader must find, in document order. */
interface ExpectedLeaf {
  contentType: string;
  charset: string | null;
  filename: string | null;
  cid: string | null;
  disposition: string | null;
  data: Buffer;
  isText: boolean;
}

function normalise(text: string): string {
  return text.replace(/\r\n|\r|\n/g, CRLF);
}

/** The leaves in tree order: alternative (text, HTML), related inline parts, then attachments. */
function expectedLeaves(g: GeneratedMessage): ExpectedLeaf[] {
  const out: ExpectedLeaf[] = [];
  const textLeaf = (body: string, subtype: string): ExpectedLeaf => ({
    contentType: `text/${subtype}`,
    charset: 'utf-8',
    filename: null,
    cid: null,
    disposition: null,
    data: Buffer.from(normalise(body), 'utf8'),
    isText: true,
  });
  if (g.text !== undefined || (g.html === undefined && g.attachments.length === 0)) {
    out.push(textLeaf(g.text ?? '', 'plain'));
  }
  if (g.html !== undefined) out.push(textLeaf(g.html, 'html'));
  for (const a of g.inline) {
    out.push({
      contentType: 'image/png',
      charset: null,
      filename: a.input.filename,
      cid: a.input.cid ?? null,
      disposition: 'inline',
      data: a.data,
      isText: false,
    });
  }
  for (const a of g.attachments) {
    out.push({
      contentType: guessType(a.input.filename),
      charset: null,
      filename: a.input.filename,
      cid: null,
      disposition: 'attachment',
      data: a.data,
      isText: false,
    });
  }
  return out;
}

function guessType(name: string): string {
  const ext = /\.([a-z0-9]+)$/.exec(name)?.[1];
  return (
    { pdf: 'application/pdf', zip: 'application/zip', txt: 'text/plain', png: 'image/png', gz: 'application/gzip' }[
      ext ?? ''
    ] ?? 'application/octet-stream'
  );
}

/** A single-part message's text keeps the CRLF the builder ends it with (there is no boundary to own it). */
function sameText(actual: Buffer, expected: Buffer, singlePart: boolean): boolean {
  if (actual.equals(expected)) return true;
  return singlePart && actual.equals(Buffer.concat([expected, Buffer.from(CRLF)]));
}

function expectedAddresses(g: GeneratedMessage): Record<string, Flat[]> {
  const out: Record<string, Flat[]> = { from: [g.from], to: g.to.flatMap((e) => e.flat) };
  if (g.cc.length > 0) out.cc = g.cc.flatMap((e) => e.flat);
  if (g.replyTo.length > 0) out['reply-to'] = g.replyTo;
  return out;
}

function checkPython(view: PythonView, policy: string, g: GeneratedMessage, leaves: ExpectedLeaf[]): void {
  const at = `python ${policy}`;
  expect(view.headers.subject, `${at}: Subject`).toBe(g.options.subject);
  for (const [name, value] of Object.entries({ ...g.customHeaders, ...g.optionHeaders })) {
    expect(view.headers[name.toLowerCase()], `${at}: ${name}`).toBe(value);
  }
  const addresses = expectedAddresses(g);
  if (policy === 'default') {
    // See sameUpToInsertedSpaces: names are compared alone, addresses exactly.
    for (const [key, list] of Object.entries(addresses)) {
      const got = view.addresses[key] ?? [];
      expect(
        got.map(([, a]) => a),
        `${at}: ${key} addresses`,
      ).toEqual(list.map(([, a]) => a));
      list.forEach(([name], i) => {
        expect(
          sameUpToInsertedSpaces(got[i]![0], name),
          `${at}: ${key} name ${JSON.stringify(got[i]![0])} for ${JSON.stringify(name)}`,
        ).toBe(true);
      });
    }
    expect(Object.keys(view.addresses).sort(), `${at}: address fields`).toEqual(Object.keys(addresses).sort());
  } else expect(view.addresses, `${at}: addresses`).toEqual(addresses);
  if (view.groups !== null) {
    // Group names and their members' addresses (member names are checked above).
    const groups = g.to.map((e) => [e.group, e.flat.map(([, a]) => a)]);
    expect(
      view.groups.to!.map(([name, members]) => [name, members.map(([, a]) => a)]),
      `${at}: To groups`,
    ).toEqual(groups);
  }
  expect(
    view.parts.map((p) => p.contentType),
    `${at}: part types`,
  ).toEqual(leaves.map((l) => l.contentType));
  view.parts.forEach((p, i) => {
    const want = leaves[i]!;
    const where = `${at}: part ${i} (${want.contentType})`;
    expect(p.charset, `${where} charset`).toBe(want.charset);
    // Under policy.default, Message.get_filename() ends in email.utils.unquote, which strips one
    // pair of <> or "" around the whole (already decoded) value, however it was encoded; compat32
    // keeps RFC 2231 values as they are. Nothing a sender can do about it.
    const unquoted = policy === 'default' && want.filename !== null && /^(<.*>|".*")$/s.test(want.filename);
    expect(p.filename, `${where} filename`).toBe(unquoted ? want.filename!.slice(1, -1) : want.filename);
    expect(p.name, `${where} Content-Type name`).toBe(want.filename);
    expect(p.cid, `${where} cid`).toBe(want.cid === null ? null : `<${want.cid}>`);
    expect(p.disposition, `${where} disposition`).toBe(want.disposition);
    const data = Buffer.from(p.data, 'base64');
    if (want.isText) expect(sameText(data, want.data, leaves.length === 1), `${where} text bytes`).toBe(true);
    else expect(data.equals(want.data), `${where} bytes`).toBe(true);
  });
}

/** mailparser gives text and HTML as decoded strings with its own line ends: compare text. */
function textOf(buffer: Buffer): string {
  return buffer.toString('utf8').replace(/\r\n/g, '\n').replace(/\n+$/, '');
}

function checkMailparser(view: MailparserView, g: GeneratedMessage, leaves: ExpectedLeaf[]): void {
  const at = 'mailparser';
  // mailparser reports an empty Subject as absent.
  expect(view.subject ?? '', `${at}: Subject`).toBe(g.options.subject);
  for (const [name, value] of Object.entries(g.customHeaders)) {
    // mailparser leaves encoded-words of fields it does not know; its users decode them with
    // libmime, mailparser's own decoder.
    expect(libmime.decodeWords(String(view.headers.get(name.toLowerCase()))), `${at}: ${name}`).toBe(value);
  }
  // mailparser turns the option fields into values of its own: a priority word, a date, a list object.
  const o = g.optionHeaders;
  if (o['x-priority'] !== undefined)
    expect(view.headers.get('priority'), `${at}: priority`).toBe(o.importance!.toLowerCase());
  expect((view.headers.get('date') as Date).toUTCString(), `${at}: date`).toBe(new Date(o.date!).toUTCString());
  if (o['list-id'] !== undefined) {
    const list = view.headers.get('list') as Record<
      string,
      { url?: string; mail?: string; id?: string; name?: string }
    >;
    // mailparser files a bare `List-Id: <id>` under `name`.
    expect(`<${list.id?.id ?? list.id?.name}>`, `${at}: list id`).toBe(o['list-id']);
    const [url, mail] = o['list-unsubscribe']!.split(', ').map((u) => u.slice(1, -1));
    expect(list.unsubscribe, `${at}: list unsubscribe`).toMatchObject({ url, mail: mail!.replace(/^mailto:/, '') });
  }
  expect(view.addresses, `${at}: addresses`).toEqual(expectedAddresses(g));
  expect(view.groups.to, `${at}: To groups`).toEqual(
    g.to.map((e) => [e.group === null ? null : e.group, e.flat]).map(([n, f]) => [n, f]),
  );
  const text = leaves.find((l) => l.contentType === 'text/plain' && l.isText);
  const html = leaves.find((l) => l.contentType === 'text/html');
  if (text !== undefined) expect((view.text ?? '').replace(/\n+$/, ''), `${at}: text`).toBe(textOf(text.data));
  if (html !== undefined) expect(textOf(Buffer.from(view.html || '')), `${at}: html`).toBe(textOf(html.data));
  const files = leaves.filter((l) => !l.isText);
  // mailparser replaces application/octet-stream by its guess from the file name (`pS` → PostScript).
  const typeSeen = (l: ExpectedLeaf): string =>
    l.contentType === 'application/octet-stream' ? libmime.detectMimeType(l.filename ?? '') : l.contentType;
  expect(
    view.attachments.map((a) => [a.filename, a.contentType, a.cid, a.disposition]),
    `${at}: attachments`,
  ).toEqual(files.map((l) => [l.filename, typeSeen(l), l.cid, l.disposition]));
  view.attachments.forEach((a, i) => {
    expect(a.data.equals(files[i]!.data), `${at}: attachment ${i} bytes`).toBe(true);
  });
}

/**
 * The seed of the generated messages: fresh on every run, CI included (a quirk a new message finds is
 * to be triaged, not hidden behind a seed known to pass); `READER_MATRIX_SEED=n` replays a failure.
 */
const SEED = process.env.READER_MATRIX_SEED
  ? Number(process.env.READER_MATRIX_SEED)
  : (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) | 0;

/** ripmime writes at most this many octets of a file name (it cuts longer ones there). */
const RIPMIME_NAME_OCTETS = 128;

/**
 * The name ripmime saves a part under: it treats `/` and `\\` as path separators (keeping what
 * follows the last one, as for a Windows path), drops quotes around the whole name and cuts
 * names at 128 octets. Null when nothing
 * of the name is left.
 */
function ripmimeName(name: string): { name: string; cut: boolean } | null {
  let base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  // Like Python's unquote, it strips one pair of double quotes around the whole decoded name.
  if (/^".*"$/s.test(base)) base = base.slice(1, -1);
  if (base === '' || base === '.' || base === '..') return null;
  return { name: base, cut: Buffer.byteLength(base) > RIPMIME_NAME_OCTETS };
}

function checkRipmime(files: Map<string, Buffer>, leaves: ExpectedLeaf[]): void {
  const at = 'ripmime';
  const texts = [...files].filter(([name]) => /^textfile\d+$/.test(name)).map(([, data]) => data);
  for (const leaf of leaves) {
    if (leaf.isText) {
      // ripmime keeps the line end before the boundary: allow one CRLF more.
      const found = texts.some((t) => sameText(t, leaf.data, true));
      expect(found, `${at}: a text file with the ${leaf.contentType} bytes`).toBe(true);
    } else if (leaves.filter((l) => l.filename === leaf.filename).length > 1) {
      // Two parts of one name: ripmime gives the second a made-up unique name.
      expect(
        [...files.values()].some((d) => d.equals(leaf.data)),
        `${at}: bytes of a twice-used name`,
      ).toBe(true);
    } else {
      const expected = ripmimeName(leaf.filename!);
      if (expected === null) continue;
      // A cut name is the first 128 octets of the whole one (possibly inside a character).
      const octets = Buffer.from(expected.name, 'utf8');
      const want = (expected.cut ? octets.subarray(0, RIPMIME_NAME_OCTETS) : octets).toString('latin1');
      const match = [...files].find(([name]) => name === want);
      const found = [...files.keys()].map((k) => Buffer.from(k, 'latin1').toString('utf8'));
      expect(match, `${at}: file ${JSON.stringify(expected.name)} (found ${JSON.stringify(found)})`).toBeDefined();
      expect(match![1].equals(leaf.data), `${at}: bytes of ${JSON.stringify(expected.name)}`).toBe(true);
    }
  }
}

/**
 * ripmime decodes text it has already decoded: a decoded header holding `=?` or `?=` (a display
 * name, the subject, a file name) can make it cut a file name there or stop reading the message
 * (`MDECODE_decode_ISO: The encoding character 'U' is not a valid type of encoding`), whatever the
 * encoding; and it cuts a file name at a `?`. Such messages are left out of ripmime's comparison only; the
 * others must all pass.
 */
function ripmimeCanRead(g: GeneratedMessage): boolean {
  const texts = [
    g.options.subject,
    ...Object.values(g.customHeaders),
    ...Object.values(expectedAddresses(g)).flatMap((list) => list.map(([name]) => name)),
    ...[...g.inline, ...g.attachments].map((a) => a.input.filename),
  ];
  // A file name holding `?` comes back cut at it (seen: "❀?Ꮩﻧ博 8Mz543I.pdf" saved as "❀").
  const names = [...g.inline, ...g.attachments].map((a) => a.input.filename);
  return !texts.some((t) => /=\?|\?=/.test(t)) && !names.some((name) => name.includes('?'));
}

/**
 * CPython's policy.default keeps the white space between two adjacent encoded-words of a display
 * name (python/cpython#128110, open in 3.11–3.13), against RFC 2047 §6.2: a name longer than one
 * encoded-word comes back with a space where the builder split it. Only that difference is
 * forgiven, and only there: same text once those inserted spaces are removed.
 */
function sameUpToInsertedSpaces(actual: string, expected: string): boolean {
  if (actual === expected) return true;
  let i = 0;
  for (const ch of actual) {
    if (expected.startsWith(ch, i)) i += ch.length;
    else if (ch !== ' ') return false;
  }
  return i === expected.length;
}

describe('reader matrix: generated messages read back identically by every reader', () => {
  if (pythonMissing !== null)
    reportUnavailable({ name: 'python3 (email package)', available: false, reason: pythonMissing });
  if (ripmimeMissing !== null) reportUnavailable({ name: 'ripmime', available: false, reason: ripmimeMissing });

  let dir: string;
  let python: PythonReader | null = null;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smtpwire-readers-'));
    if (pythonMissing === null) python = new PythonReader();
  });
  afterAll(async () => {
    await python?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`${RUNS} generated messages: Python compat32 + default, mailparser and ripmime agree with the input`, async () => {
    let n = 0;
    let ripmimeChecked = 0;
    await fc
      .assert(
        fc.asyncProperty(message, async (g) => {
          const id = n++;
          const raw = await buildMessage(g.options).toBuffer();
          const path = join(dir, `m${id}.eml`);
          await writeFile(path, raw);
          const leaves = expectedLeaves(g);
          const [py, mp, rip] = await Promise.all([
            python?.read(path) ?? null,
            readWithMailparser(raw),
            ripmimeMissing === null && ripmimeCanRead(g) ? readWithRipmime(path, join(dir, `r${id}`)) : null,
          ]);
          try {
            if (py !== null) {
              checkPython(py.compat32, 'compat32', g, leaves);
              checkPython(py.default, 'default', g, leaves);
            }
            checkMailparser(mp, g, leaves);
            if (rip !== null) {
              checkRipmime(rip, leaves);
              ripmimeChecked++;
            }
          } catch (err) {
            // READER_MATRIX_KEEP=file keeps the failing message for a closer look.
            if (process.env.READER_MATRIX_KEEP) await writeFile(process.env.READER_MATRIX_KEEP, raw);
            (err as Error).message += `\n--- message ${path}:\n${raw.toString('utf8').slice(0, 6000)}`;
            throw err;
          }
        }),
        { numRuns: RUNS, endOnFailure: true, seed: SEED },
      )
      .catch((err: unknown) => {
        // The seed that failed, in the message CI shows: replay it locally with READER_MATRIX_SEED.
        (err as Error).message =
          `reader matrix failed with seed ${SEED} (replay: READER_MATRIX_SEED=${SEED})\n${(err as Error).message}`;
        throw err;
      });
    // The ripmime exclusion must stay an exception.
    if (ripmimeMissing === null) expect(ripmimeChecked).toBeGreaterThan(RUNS / 2);
  }, 120_000);
});
