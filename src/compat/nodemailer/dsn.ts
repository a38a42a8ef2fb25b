/**
 * nodemailer's `dsn` (`{ id, return, notify, recipient }`) → the engine's DSN shape
 * (`{ envid, ret, notify, orcpt }`, RFC 3461). nodemailer's `recipient` is the ORCPT address; the
 * engine writes ORCPT per recipient from the addresses as given, so it takes `orcpt: true`.
 */
import { InvalidArgumentError } from '../../errors.js';

export interface EngineDsn {
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  notify?: ('SUCCESS' | 'FAILURE' | 'DELAY' | 'NEVER')[];
  orcpt?: boolean;
}

const NOTIFY = new Set(['SUCCESS', 'FAILURE', 'DELAY', 'NEVER']);

/** @throws InvalidArgumentError for a value nodemailer would also refuse. */
export function engineDsn(dsn: unknown): EngineDsn | null {
  if (dsn === undefined || dsn === null || dsn === false) return null;
  if (typeof dsn !== 'object') throw new InvalidArgumentError('dsn must be an object', { field: 'dsn' });
  const d = dsn as { id?: unknown; return?: unknown; notify?: unknown; recipient?: unknown };
  const out: EngineDsn = {};
  if (d.return !== undefined) {
    const ret = String(d.return).toUpperCase();
    if (ret !== 'HEADERS' && ret !== 'HDRS' && ret !== 'FULL')
      throw new InvalidArgumentError("dsn.return must be 'headers' or 'full'", { field: 'dsn.return' });
    out.ret = ret === 'FULL' ? 'FULL' : 'HDRS';
  }
  if (d.id !== undefined) out.envid = String(d.id);
  if (d.notify !== undefined) {
    const list = (Array.isArray(d.notify) ? d.notify : String(d.notify).split(','))
      .map((n) => String(n).trim().toUpperCase())
      .filter(Boolean);
    for (const n of list)
      if (!NOTIFY.has(n))
        throw new InvalidArgumentError(`dsn.notify: ${JSON.stringify(n)} is not a DSN notify value`, {
          field: 'dsn.notify',
        });
    if (list.includes('NEVER') && list.length > 1)
      throw new InvalidArgumentError('dsn.notify: NEVER cannot be combined with other values', { field: 'dsn.notify' });
    out.notify = list as EngineDsn['notify'];
  }
  if (d.recipient !== undefined) out.orcpt = true;
  return out;
}
