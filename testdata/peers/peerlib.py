"""What every test peer in this directory shares: one-line output, the
exit handlers and the count file (README.md has the conventions)."""

import os
import signal
import sys
import threading


def say(line):
    """One stdout line in one write, flushed (a signal cannot split it)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def install_exit_handlers(exit_on_stdin_eof):
    """Exit cleanly (SystemExit(0)) on SIGTERM and, optionally, stdin EOF."""

    def on_term(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    if exit_on_stdin_eof:
        main_id = threading.main_thread().ident

        def watch_stdin():
            while os.read(0, 4096):
                pass
            # Aim the signal at the main thread so that its blocking call
            # (zmq recv, sleep) is interrupted and the handler runs.
            signal.pthread_kill(main_id, signal.SIGTERM)

        threading.Thread(target=watch_stdin, daemon=True).start()


def open_count_file(path):
    """The --count-file descriptor, opened for appending; None without one."""
    if not path:
        return None
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def count(fd, frame):
    """Append one line (the request's last frame) with a single write."""
    if fd is not None:
        os.write(fd, frame + b"\n")
