/** formatTranscript is printed in failure messages: a peer's control characters come out escaped. */
import { describe, expect, it } from 'vitest';
import type { SessionRecord } from '../../src/testing/index.js';
import { formatTranscript } from '../../src/testing/index.js';

describe('formatTranscript', () => {
  it('escapes control characters from either side, keeps order and plain text', () => {
    const session = {
      commands: [{ at: 2, line: 'EHLO \u001b]0;owned\u0007client' }],
      replies: [
        { at: 1, text: '220 hi\r\n' },
        { at: 3, text: '250-ok\u202e\r\n250 \u009b2J\r\n' },
      ],
    } as unknown as SessionRecord;
    expect(formatTranscript(session).split('\n')).toEqual([
      'S: 220 hi',
      'C: EHLO \\x1b]0;owned\\x07client',
      'S: 250-ok\\u202e',
      'S: 250 \\u009b2J',
    ]);
  });
});
