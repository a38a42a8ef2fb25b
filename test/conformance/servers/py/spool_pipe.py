"""Postfix pipe(8) delivery target: store one message in a spool directory.

master.cf runs it as: python3 spool_pipe.py SPOOL_DIR ${sender} ${recipient}...
(one invocation per message, with every envelope recipient of that delivery).
The message arrives on stdin as Postfix stores it (LF line endings).

Writes SPOOL_DIR/ID.eml (the bytes) and then SPOOL_DIR/ID.json (the envelope);
the .json is the commit marker that test/conformance/servers/spool.ts looks for.
Both are renamed into place, so a reader never sees half a file.
"""
import datetime
import json
import os
import sys
import time


def main():
    spool, sender, recipients = sys.argv[1], sys.argv[2], sys.argv[3:]
    data = sys.stdin.buffer.read()
    msg_id = '%020d-%d' % (time.time_ns(), os.getpid())
    meta = {
        'id': msg_id,
        'sender': sender,
        'recipients': recipients,
        'receivedAt': datetime.datetime.now(datetime.timezone.utc).isoformat(),
        'lineEnding': 'lf',
    }
    for suffix, payload in (('.eml', data), ('.json', json.dumps(meta).encode('utf-8'))):
        tmp = os.path.join(spool, '.' + msg_id + suffix + '.tmp')
        with open(tmp, 'wb') as f:
            f.write(payload)
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(spool, msg_id + suffix))
    return 0


if __name__ == '__main__':
    sys.exit(main())
