/**
 * fast-check generators of messages for the reader matrix, and what every reader must find in
 * each one (derived from the input alone, never from the builder's output).
 */
import fc from 'fast-check';
import type { BuildMessageOptions } from '../../src/message/mime/index.js';
import type { AddressObject, AttachmentInput, ListHeadersInput, MessagePriority } from '../../src/message/types.js';

/** Words from the scripts and characters that break naive encoders. */
const SPECIAL_WORDS = [
  '报告',
  '東京タワー',
  '한국어',
  'Ελληνικά',
  'Αθήνα',
  'Привет',
  'отчёт',
  'עברית',
  'العربية',
  '😀',
  '🎉👍🏽',
  '👨‍👩‍👧',
  '"quoted"',
  "it's",
  'semi;colon',
  'a,b',
  '(v2)',
  '[draft]',
  '<angle>',
  'back\\slash',
  'naïve',
  'Zoë',
  'résumé',
  'Straße',
  '§±×',
  '%20',
  '100%',
  "'",
  '*',
  'ﬁ',
  'x=y',
  '_under_',
  'a:b',
  'café',
];

/**
 * Words that look like (parts of) RFC 2047 encoded-words. ripmime re-decodes them and is then left
 * out of the comparison (see the matrix), so they appear in a quarter of the messages only.
 */
const ENCODED_LOOKING = ['=?UTF-8?Q?x?=', '=?', '?=', 'a=?b'];

/** No white space, controls, surrogates or path separators: words are joined by one space. */
const WORD_CHARS = /^[^\s\p{Cc}\p{Cs}\u2028\u2029\u0085/]+$/u;

/** Words for one message; `tricky` adds the encoded-word look-alikes. */
function wordsOf(tricky: boolean): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_WORDS) },
    { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9]{1,10}$/) },
    {
      weight: 2,
      arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 5 }).filter((w) => WORD_CHARS.test(w)),
    },
    { weight: tricky ? 1 : 0, arbitrary: fc.constantFrom(...ENCODED_LOOKING) },
  );
}

/** What readers report for a mailbox: [name or '', address]. */
export type Flat = [string, string];

/** A To/Cc entry: an object, a bare address string, or a group written as text. */
export interface Entry {
  input: string | AddressObject;
  /** The mailboxes it stands for. */
  flat: Flat[];
  /** The group's name, or null for a plain mailbox. */
  group: string | null;
}

export interface GeneratedAttachment {
  input: AttachmentInput;
  data: Buffer;
}

export interface GeneratedMessage {
  options: BuildMessageOptions;
  from: Flat;
  to: Entry[];
  cc: Entry[];
  replyTo: Flat[];
  text: string | undefined;
  html: string | undefined;
  inline: GeneratedAttachment[];
  attachments: GeneratedAttachment[];
  customHeaders: Record<string, string>;
  /** Header fields the options write, by lower-case name, as every reader must decode them. */
  optionHeaders: Record<string, string>;
}

/** Messages whose words come from `word`. */
function messagesFrom(word: fc.Arbitrary<string>): fc.Arbitrary<GeneratedMessage> {
  /** One to `max` words joined by single spaces. */
  function phrase(max: number): fc.Arbitrary<string> {
    return fc.array(word, { minLength: 1, maxLength: max }).map((w) => w.join(' '));
  }

  const EXTENSIONS = ['.pdf', '.zip', '.txt', '.png', '.bin', '.tar.gz', ''];

  /** File names in many scripts, with quotes and semicolons, sometimes very long. */
  const filename = fc
    .tuple(
      fc.oneof({ weight: 4, arbitrary: phrase(4) }, { weight: 1, arbitrary: phrase(30) }),
      fc.constantFrom(...EXTENSIONS),
    )
    .map(([base, ext]) => base + ext);

  const localPart = fc.stringMatching(/^[a-z0-9]{1,10}(\.[a-z0-9]{1,8})?$/);
  const domain = fc.constantFrom('example.com', 'test.example', 'mail.example.org', 'sub.example.net');
  const address = fc.tuple(localPart, domain).map(([l, d]) => `${l}@${d}`);

  /** A display name: none, or words with commas, quotes and any script. */
  const displayName = fc.oneof({ weight: 1, arbitrary: fc.constant('') }, { weight: 3, arbitrary: phrase(4) });

  const mailbox: fc.Arbitrary<AddressObject> = fc.record({ name: displayName, address });

  function quoteGroupName(name: string): string {
    return /^[A-Za-z0-9 ]+$/.test(name) ? name : `"${name.replace(/["\\]/g, '\\$&')}"`;
  }

  const entry: fc.Arbitrary<Entry> = fc.oneof(
    {
      weight: 4,
      arbitrary: mailbox.map((m) => ({ input: m, flat: [[m.name ?? '', m.address]] as Flat[], group: null })),
    },
    { weight: 2, arbitrary: address.map((a) => ({ input: a, flat: [['', a]] as Flat[], group: null })) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.stringMatching(/^[A-Za-z][A-Za-z0-9 ]{0,12}[A-Za-z0-9]$/).filter((n) => !/ {2}/.test(n)),
          fc.array(address, { minLength: 1, maxLength: 3 }),
        )
        .map(([name, members]) => ({
          input: `${quoteGroupName(name)}: ${members.join(', ')};`,
          flat: members.map((m) => ['', m] as Flat),
          group: name,
        })),
    },
  );

  /** Text with line breaks in any convention, long lines and any script. */
  const bodyText = fc.oneof(
    fc
      .array(phrase(12), { minLength: 1, maxLength: 6 })
      .chain((lines) => fc.constantFrom('\r\n', '\n', '\r').map((nl) => lines.join(nl))),
    fc.string({ unit: 'grapheme', maxLength: 400 }).map((s) => s.replace(/\0/g, '')),
    phrase(60),
  );

  const bytes = fc.uint8Array({ maxLength: 1500 }).map((a) => Buffer.from(a));

  const attachment: fc.Arbitrary<GeneratedAttachment> = fc
    .tuple(filename, bytes, fc.constantFrom('buffer', 'base64-data', 'string-base64', 'string-hex'))
    .map(([name, data, form]) => {
      const input: AttachmentInput =
        form === 'buffer'
          ? { filename: name, content: data }
          : form === 'base64-data'
            ? { filename: name, data: data.toString('base64') }
            : form === 'string-base64'
              ? { filename: name, content: data.toString('base64'), encoding: 'base64' }
              : { filename: name, content: data.toString('hex'), encoding: 'hex' };
      return { input, data };
    });

  /** An inline image: referenced from the HTML by its cid. */
  const inlineImage: fc.Arbitrary<GeneratedAttachment> = fc
    .tuple(filename, bytes, fc.stringMatching(/^[a-z0-9]{1,12}@[a-z]{1,8}\.example$/))
    .map(([name, data, cid]) => ({ input: { filename: name, content: data, cid, contentType: 'image/png' }, data }));

  const PRIORITY_FIELDS: Record<MessagePriority, Record<string, string>> = {
    high: { 'x-priority': '1 (Highest)', 'x-msmail-priority': 'High', importance: 'High' },
    normal: { 'x-priority': '3 (Normal)', 'x-msmail-priority': 'Normal', importance: 'Normal' },
    low: { 'x-priority': '5 (Lowest)', 'x-msmail-priority': 'Low', importance: 'Low' },
  };

  /** List headers and the fields they must come back as. */
  const listOption: fc.Arbitrary<{ input: ListHeadersInput; fields: Record<string, string> }> = fc
    .record({
      id: fc.stringMatching(/^[a-z0-9]{1,10}\.[a-z]{2,8}\.example$/),
      url: fc.stringMatching(/^[a-z0-9]{1,12}$/).map((p) => `https://lists.example/u/${p}?a=1&b=2`),
      mail: address,
      oneClick: fc.boolean(),
    })
    .map(({ id, url, mail, oneClick }) => ({
      input: { id, unsubscribe: { url, mail, oneClick }, help: mail },
      fields: {
        'list-id': `<${id}>`,
        'list-unsubscribe': `<${url}>, <mailto:${mail}>`,
        ...(oneClick ? { 'list-unsubscribe-post': 'List-Unsubscribe=One-Click' } : {}),
        'list-help': `<mailto:${mail}>`,
      },
    }));

  const message: fc.Arbitrary<GeneratedMessage> = fc
    .record({
      from: mailbox,
      to: fc.array(entry, { minLength: 1, maxLength: 3 }),
      cc: fc.array(entry, { maxLength: 2 }),
      replyTo: fc.array(mailbox, { maxLength: 2 }),
      subject: fc.oneof(phrase(6), phrase(40), fc.constant('')),
      text: fc.option(bodyText, { nil: undefined }),
      html: fc.option(bodyText, { nil: undefined }),
      inline: fc.array(inlineImage, { maxLength: 2 }),
      attachments: fc.array(attachment, { maxLength: 3 }),
      note: fc.option(phrase(8), { nil: undefined }),
      allow8bit: fc.boolean(),
      priority: fc.option(fc.constantFrom<MessagePriority>('high', 'normal', 'low'), { nil: undefined }),
      list: fc.option(listOption, { nil: undefined }),
    })
    .map((g) => {
      // Inline images only make sense with HTML that references them.
      const html =
        g.html === undefined && g.inline.length === 0
          ? undefined
          : `<p>${g.html ?? ''}</p>${g.inline.map((i) => `<img src="cid:${i.input.cid}">`).join('')}`;
      const customHeaders: Record<string, string> = g.note === undefined ? {} : { 'X-Note': g.note };
      const options: BuildMessageOptions = {
        fromAddress: g.from,
        toAddresses: g.to.map((e) => e.input),
        ...(g.cc.length > 0 ? { ccAddresses: g.cc.map((e) => e.input) } : {}),
        ...(g.replyTo.length === 1 ? { replyTo: g.replyTo[0]! } : g.replyTo.length > 1 ? { replyTo: g.replyTo } : {}),
        subject: g.subject,
        ...(g.text === undefined ? {} : { textBody: g.text }),
        ...(html === undefined ? {} : { htmlBody: html }),
        attachments: [...g.inline, ...g.attachments].map((a) => a.input),
        customHeaders,
        allow8bit: g.allow8bit,
        date: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
        ...(g.priority === undefined ? {} : { priority: g.priority }),
        ...(g.list === undefined ? {} : { list: g.list.input }),
      };
      return {
        options,
        from: [g.from.name ?? '', g.from.address] as Flat,
        to: g.to,
        cc: g.cc,
        replyTo: g.replyTo.map((m) => [m.name ?? '', m.address] as Flat),
        text: g.text,
        html,
        inline: g.inline,
        attachments: g.attachments,
        customHeaders,
        optionHeaders: {
          date: 'Fri, 02 Jan 2026 03:04:05 +0000',
          ...(g.priority === undefined ? {} : PRIORITY_FIELDS[g.priority]),
          ...(g.list === undefined ? {} : g.list.fields),
        },
      };
    });
  return message;
}

/** Generated messages; a quarter of them with encoded-word look-alikes in their texts. */
export const message: fc.Arbitrary<GeneratedMessage> = fc.oneof(
  { weight: 3, arbitrary: messagesFrom(wordsOf(false)) },
  { weight: 1, arbitrary: messagesFrom(wordsOf(true)) },
);
