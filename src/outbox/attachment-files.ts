/**
 * The files a queued message names (`attachments[].path`, `alternatives[].path`, `icalEvent.path`), opened by
 * handle so that what is read is what was checked: each file is opened once, the handle is `fstat`ed (a regular
 * file), the path's real location must lie under the worker's `attachmentRoot` and be that same file (device and
 * inode), and the bytes are read from the handle. A symlink or rename swapped in after the check cannot redirect
 * the read: the handle already points at the checked file, and a path that no longer leads to it is refused.
 */
import { constants } from 'node:fs';
import { type FileHandle, open, realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import type { QueuedMessage } from './job-data.js';

/**
 * Non-blocking: opening a FIFO (or a device) a job names would otherwise wait for a writer forever, holding a
 * thread of libuv's pool, before the checks below refuse it. A regular file reads the same either way.
 */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** Text parts (alternatives, iCalendar) are read whole: at most this many octets each. */
const MAX_TEXT_PART = 64 * 1024 * 1024;

export type OpenedFiles =
  | { ok: true; message: QueuedMessage; close: () => Promise<void> }
  | { ok: false; reason: string };

/**
 * Opens every file `message` names and gives back a copy that carries the handles' contents instead of paths
 * (attachments as streams, text parts as bytes). `close()` releases every handle; call it once the send ended.
 */
export async function openJobFiles(message: QueuedMessage, root: string | null): Promise<OpenedFiles> {
  const m = message as Record<string, unknown>;
  const named: { field: string; item: Record<string, unknown>; whole: boolean }[] = [];
  const copy: Record<string, unknown> = { ...m };
  const collect = (key: 'attachments' | 'alternatives'): void => {
    const list = m[key];
    if (!Array.isArray(list)) return;
    const items = list.map((x) => (x && typeof x === 'object' ? { ...(x as Record<string, unknown>) } : x));
    copy[key] = items;
    for (const [i, item] of items.entries())
      if (item && typeof item === 'object' && (item as { path?: unknown }).path !== undefined)
        named.push({
          field: `${key}[${i}].path`,
          item: item as Record<string, unknown>,
          whole: key === 'alternatives',
        });
  };
  collect('attachments');
  collect('alternatives');
  if (m.icalEvent && typeof m.icalEvent === 'object' && (m.icalEvent as { path?: unknown }).path !== undefined) {
    const ical = { ...(m.icalEvent as Record<string, unknown>) };
    copy.icalEvent = ical;
    named.push({ field: 'icalEvent.path', item: ical, whole: true });
  }
  if (named.length === 0) return { ok: true, message, close: async () => {} };
  if (root === null)
    return {
      ok: false,
      reason: `${named[0]!.field} refused: files named in job data are read only under the worker option attachmentRoot, which is not set`,
    };
  const handles: FileHandle[] = [];
  const close = async (): Promise<void> => {
    await Promise.allSettled(handles.splice(0).map((h) => h.close()));
  };
  for (const { field, item, whole } of named) {
    const path = item.path;
    const refuse = async (why: string): Promise<OpenedFiles> => {
      await close();
      return { ok: false, reason: `${field} refused: ${why}` };
    };
    if (typeof path !== 'string') return refuse('it is not a file path');
    if (item.content !== undefined) return refuse('give content or path, not both');
    let handle: FileHandle;
    try {
      handle = await open(path, OPEN_FLAGS);
    } catch {
      return refuse(`it is not a file under the worker's attachmentRoot ${root}`);
    }
    handles.push(handle);
    const why = await checkHandle(handle, path, root);
    if (why !== null) return refuse(why);
    delete item.path;
    if (whole) {
      const info = await handle.stat();
      if (info.size > MAX_TEXT_PART) return refuse(`it is larger than ${MAX_TEXT_PART} octets`);
      item.content = await handle.readFile();
    } else item.content = handle.createReadStream({ autoClose: false, start: 0 });
  }
  return { ok: true, message: copy as QueuedMessage, close };
}

/** Null when the open file is a regular file that `path` still leads to, under `root`; else why not. */
async function checkHandle(handle: FileHandle, path: string, root: string): Promise<string | null> {
  const outside = `it is not a file under the worker's attachmentRoot ${root}`;
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) return 'it is not a regular file';
    const real = await realpath(path);
    if (!real.startsWith(root.endsWith(sep) ? root : root + sep)) return outside;
    const there = await stat(real);
    // The path now leads elsewhere than the file opened (swapped between open and check): refuse, read nothing.
    if (there.dev !== opened.dev || there.ino !== opened.ino) return `${outside} (it changed while being opened)`;
    return null;
  } catch {
    return outside;
  }
}
