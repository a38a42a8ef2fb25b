/**
 * The independent MIME readers of the reader matrix, each turned into one comparable view:
 * Python's `email` (compat32 and default policies, one long-lived process, JSON lines),
 * mailparser (in process) and ripmime (Debian, one process per message, files on disk).
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { access, constants, mkdir, readdir, readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type AddressObject as ParsedAddress, simpleParser } from 'mailparser';

const run = promisify(execFile);

export const SYSTEM_PYTHON = '/usr/bin/python3';
export const RIPMIME = '/usr/bin/ripmime';
const SCRIPT = fileURLToPath(new URL('./python_reader.py', import.meta.url));

/** One leaf part as a reader sees it. */
export interface PartView {
  contentType: string;
  charset: string | null;
  /** What the reader offers as the file name. */
  filename: string | null;
  /** Content-ID without angle brackets. */
  cid: string | null;
  disposition: string | null;
  data: Buffer;
}

/** What the Python reader answers per policy. */
export interface PythonView {
  headers: Record<string, string>;
  addresses: Record<string, [string, string][]>;
  groups: Record<string, [string | null, [string, string][]][]> | null;
  parts: Array<Omit<PartView, 'data'> & { name: string | null; method: string | null; data: string }>;
}

/** Null when the tool can run here, else why not. */
export async function unavailable(path: string): Promise<string | null> {
  try {
    await access(path, constants.X_OK);
    return null;
  } catch {
    return `${path} is not installed (run .ci/install-servers.sh as root)`;
  }
}

/** A long-lived `python_reader.py`: requests and answers matched by id. */
export class PythonReader {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 0;
  #stderr = '';

  constructor() {
    this.#child = spawn(SYSTEM_PYTHON, [SCRIPT], { stdio: 'pipe' });
    this.#child.stderr.on('data', (d: Buffer) => {
      this.#stderr += d.toString();
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      const answer = JSON.parse(line) as { id: number; error?: string };
      const waiter = this.#waiting.get(answer.id);
      this.#waiting.delete(answer.id);
      if (answer.error !== undefined) waiter?.reject(new Error(`python email: ${answer.error}`));
      else waiter?.resolve(answer);
    });
    this.#child.on('exit', (code) => {
      for (const w of this.#waiting.values()) w.reject(new Error(`python reader exited ${code}: ${this.#stderr}`));
      this.#waiting.clear();
    });
  }

  /** Both policies' view of the message in `path`. */
  read(path: string): Promise<{ compat32: PythonView; default: PythonView }> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#child.stdin.write(`${JSON.stringify({ id, path })}\n`);
    });
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.stdin.end();
    await exited;
  }
}

/** mailparser's view: decoded headers, address lists, text/html and attachments. */
export interface MailparserView {
  subject: string | undefined;
  addresses: Record<string, [string, string][]>;
  groups: Record<string, [string | null, [string, string][]][]>;
  headers: Map<string, unknown>;
  text: string | undefined;
  html: string | false | undefined;
  attachments: PartView[];
}

function flatten(value: ParsedAddress | ParsedAddress[] | undefined): {
  flat: [string, string][];
  groups: [string | null, [string, string][]][];
} {
  const flat: [string, string][] = [];
  const groups: [string | null, [string, string][]][] = [];
  for (const obj of value === undefined ? [] : Array.isArray(value) ? value : [value]) {
    for (const entry of obj.value) {
      if (entry.group !== undefined) {
        const members = entry.group.map((m) => [m.name, m.address ?? ''] as [string, string]);
        flat.push(...members);
        groups.push([entry.name, members]);
      } else {
        flat.push([entry.name, entry.address ?? '']);
        groups.push([null, [[entry.name, entry.address ?? '']]]);
      }
    }
  }
  return { flat, groups };
}

export async function readWithMailparser(raw: Buffer): Promise<MailparserView> {
  const parsed = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true });
  const addresses: Record<string, [string, string][]> = {};
  const groups: Record<string, [string | null, [string, string][]][]> = {};
  for (const [key, value] of [
    ['from', parsed.from],
    ['to', parsed.to],
    ['cc', parsed.cc],
    ['reply-to', parsed.replyTo],
  ] as const) {
    if (value === undefined) continue;
    const f = flatten(value);
    addresses[key] = f.flat;
    groups[key] = f.groups;
  }
  return {
    subject: parsed.subject,
    addresses,
    groups,
    headers: parsed.headers,
    text: parsed.text,
    html: parsed.html,
    attachments: parsed.attachments.map((a) => ({
      contentType: a.contentType,
      charset: null,
      filename: a.filename ?? null,
      cid: a.cid ?? null,
      disposition: a.contentDisposition ?? null,
      data: a.content,
    })),
  };
}

/**
 * ripmime's view: the files it writes, by name (its octets as a latin1 string). `--no-multiple-filenames` keeps it to the one
 * name it reads first (without it, it saves a part under every name it finds); nameless parts
 * (the text bodies) come out as `textfileN`.
 */
export async function readWithRipmime(path: string, dir: string): Promise<Map<string, Buffer>> {
  await mkdir(dir, { recursive: true });
  await run(RIPMIME, ['-i', path, '-d', dir, '--no-multiple-filenames', '-q'], { timeout: 20_000 });
  // Names as raw octets (latin1 keys): a name ripmime cut may end inside a UTF-8 sequence.
  const files = new Map<string, Buffer>();
  for (const name of await readdir(dir, { encoding: 'buffer' })) {
    files.set(name.toString('latin1'), await readFile(Buffer.concat([Buffer.from(`${dir}/`), name])));
  }
  return files;
}
