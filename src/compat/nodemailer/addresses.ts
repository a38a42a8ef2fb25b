/**
 * The one place `smtpwire/nodemailer` handles addresses: nodemailer's forms (`'a@b.example'`,
 * `'Name <a@b.example>, c@d.example'`, `{ name, address }`, arrays of these) → mailboxes, and the
 * wire form of an address (punycode domain) that nodemailer reports in `info` and `envelope`.
 * Every rule is the core's (message/address.ts); this module only adapts shapes, so a change of
 * the core's address value touches this file alone.
 */
import { InvalidArgumentError } from '../../errors.js';
import {
  envelopeAddress,
  flattenAddresses,
  formatAddress,
  formatPhrase,
  parseAddressList,
} from '../../message/address.js';

/** An address as nodemailer takes it. */
export type NodemailerAddress = string | { name?: string; address: string };
export type NodemailerAddressList = NodemailerAddress | readonly NodemailerAddress[];

/** One mailbox: its display name ('' when none) and its address as given. */
export interface MailboxView {
  name: string;
  address: string;
}

/**
 * Every mailbox of a nodemailer address value (groups flattened), in order.
 * @throws InvalidArgumentError (`ERR_SMTP_INVALID_ADDRESS`) naming `field`.
 */
export function mailboxes(list: unknown, field: string): MailboxView[] {
  if (list === undefined || list === null || list === false || list === '') return [];
  const items = Array.isArray(list) ? list : [list];
  const out: MailboxView[] = [];
  for (const item of items) {
    if (Array.isArray(item)) out.push(...mailboxes(item, field));
    else if (typeof item === 'string') {
      for (const m of flattenAddresses(parseAddressList(item))) out.push({ name: m.name ?? '', address: m.address });
    } else if (item && typeof item === 'object' && typeof (item as { address?: unknown }).address === 'string') {
      const o = item as { name?: unknown; address: string };
      // `{ name, address: 'x@y, z@w' }` is a list in nodemailer's hands too.
      const inner = flattenAddresses(parseAddressList(o.address));
      for (const m of inner)
        out.push({
          name: typeof o.name === 'string' && inner.length === 1 ? o.name : (m.name ?? ''),
          address: m.address,
        });
    } else {
      throw new InvalidArgumentError(`${field} must be an address string or { name, address }`, { field });
    }
  }
  return out;
}

/** A mailbox as header text (`"Name" <a@b.example>`), the core's formatting. */
export function headerText(m: MailboxView): string {
  return formatAddress({ name: m.name || null, address: m.address });
}

/** The address as it goes on the wire: the domain in punycode (nodemailer reports this form). */
export function wireAddress(address: string): string {
  return envelopeAddress(address);
}

/** The wire addresses of a nodemailer value, de-duplicated as nodemailer does (first wins). */
export function wireList(list: unknown, field: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const m of mailboxes(list, field)) {
    const wire = wireAddress(m.address);
    if (!seen.has(wire)) {
      seen.add(wire);
      out.push(wire);
    }
  }
  return out;
}

/** The first mailbox's wire address, or false (nodemailer's "no sender"). */
export function wireSingle(value: unknown, field: string): string | false {
  const first = mailboxes(value, field)[0];
  return first === undefined ? false : wireAddress(first.address);
}

/** A display name or comment as an RFC 5322 phrase (quoted or encoded as needed), the core's rule (List-ID's name). */
export function phraseText(name: string, field: string): string {
  return formatPhrase(name, field);
}
