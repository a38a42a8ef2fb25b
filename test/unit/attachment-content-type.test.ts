/**
 * An attachment's contentType (issue 23): its parameters may not name the file (a `name` parameter gives readers
 * a second file name beside the disposition's), repeat, or carry VT/FF/U+2028 into the header.
 */
import { describe, expect, it } from 'vitest';
import { buildMessage } from '../../src/index.js';
import { checkContentType } from '../../src/message/mime/headers.js';

describe('attachment contentType', () => {
  it.each([
    'application/pdf',
    'text/plain; charset=utf-8',
    'text/plain;\tformat="flowed; name=x"',
    'application/octet-stream; type="image/png"',
  ])('accepts %j', (ct) => {
    expect(checkContentType(ct, 'ct')).toBe(ct);
  });

  it.each([
    'application/pdf; name="invoice.pdf"',
    'application/pdf; NAME=invoice.pdf',
    "application/pdf; name*=utf-8''invoice.pdf",
    'application/pdf; name*0="in"; name*1="voice.pdf"',
    'application/pdf; filename=invoice.pdf',
    'text/plain; charset=utf-8; charset=latin1',
    'text/plain;\vcharset=utf-8',
    'text/plain;\fcharset=utf-8',
    'text/plain; charset=utf-8\u2028',
    'text/plain; charset="utf-8\u2028"',
  ])('refuses %j', (ct) => {
    expect(() => checkContentType(ct, 'attachments[0].contentType')).toThrow(
      expect.objectContaining({ field: 'attachments[0].contentType' }),
    );
  });

  it('a message whose attachment smuggles a name is refused, naming the field', () => {
    expect(() =>
      buildMessage({
        fromAddress: 'a@x.example',
        toAddresses: ['b@x.example'],
        subject: 's',
        textBody: 'b',
        attachments: [{ filename: 'payload.exe', contentType: 'application/pdf; name="invoice.pdf"', data: 'aGk=' }],
      } as never),
    ).toThrow(expect.objectContaining({ field: 'attachments[0].contentType' }));
  });
});
