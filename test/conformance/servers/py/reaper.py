"""Run one daemon command as a child and reap every process it leaves behind.

Used by postfix.ts: Postfix's master(8) forks many daemons (smtpd, cleanup, qmgr,
pipe ...) that outlive it for a moment when it stops. This script makes itself a
child subreaper (Linux prctl PR_SET_CHILD_SUBREAPER), so those orphans become its
children instead of PID 1's, and it exits only when all of them are gone. Thus
"the reaper exited" means "nothing of this Postfix instance is left running".

Usage: /usr/bin/python3 reaper.py COMMAND [ARGS...]
  - prints one JSON line {"pid": <child pid>} on stdout once the child is started;
  - stops the child's process group with SIGTERM when stdin reaches EOF (the Node
    parent closed it or died) or when it receives SIGTERM/SIGINT;
  - SIGKILLs whatever is still alive GRACE_SECONDS later;
  - exits with the child's exit status (128+signal when killed by a signal).
"""
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time

PR_SET_CHILD_SUBREAPER = 36
GRACE_SECONDS = 5.0


def own_children():
    """PIDs whose parent is this process (orphans we adopted included)."""
    me = os.getpid()
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry, 'rb') as f:
                stat = f.read()
        except OSError:
            continue
        # Field 4 (ppid) follows the ")" that closes the command name.
        fields = stat[stat.rindex(b')') + 2:].split()
        if len(fields) > 1 and int(fields[1]) == me:
            found.append(int(entry))
    return found


def main():
    if len(sys.argv) < 2:
        sys.stderr.write('usage: reaper.py COMMAND [ARGS...]\n')
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.stderr.write('reaper: prctl(PR_SET_CHILD_SUBREAPER) failed, errno %d\n' % ctypes.get_errno())

    child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
    sys.stdout.write(json.dumps({'pid': child.pid}) + '\n')
    sys.stdout.flush()

    stopping = threading.Event()

    def request_stop(*_args):
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        stopping.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    status = None
    kill_deadline = None
    while True:
        # Reap everything that has exited: the main child and adopted orphans.
        while True:
            try:
                pid, raw = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid, raw = -1, 0
            if pid <= 0:
                break
            if pid == child.pid:
                child.returncode = 0  # keep subprocess from reaping it again
                status = os.waitstatus_to_exitcode(raw)
                if status < 0:
                    status = 128 - status
        if status is not None and not own_children():
            return status
        if stopping.is_set() and kill_deadline is None:
            kill_deadline = time.monotonic() + GRACE_SECONDS
            # master(8) is a session leader: its pgid is its pid, and the
            # daemons it forked share that group.
            for target in (-child.pid, child.pid):
                try:
                    os.kill(target, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        if status is not None and kill_deadline is None:
            # The daemon exited on its own: give its orphans the same grace.
            kill_deadline = time.monotonic() + GRACE_SECONDS
            for pid in own_children():
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        if kill_deadline is not None and time.monotonic() > kill_deadline:
            for pid in own_children() + [-child.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        time.sleep(0.02)


if __name__ == '__main__':
    sys.exit(main())
