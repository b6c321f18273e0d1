#!/usr/bin/env python3
"""Plain REP echo server: a test peer for zmqguard's clients.

Replies to every request with the same frames, each prefixed with --prefix
(default empty: a pure multipart echo). Can misbehave on purpose: reply late
(--delay-ms), die on the Nth request without replying (--die-after, exit 3),
or stop reading after N replies while staying alive (--hang-after).

Prints "READY <endpoint>" once bound (the real endpoint when the port is *).
Exits 0 on SIGTERM, or on stdin EOF with --exit-on-stdin-eof.
"""

import argparse
import signal
import sys
import time

import zmq

from peerlib import count, install_exit_handlers, open_count_file, say


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", default="tcp://127.0.0.1:*", help="endpoint to bind")
    ap.add_argument("--delay-ms", type=int, default=0, help="sleep before each reply")
    ap.add_argument("--prefix", default="", help="prepended to every echoed frame")
    ap.add_argument("--count-file", help="append each executed request's last frame")
    ap.add_argument("--die-after", type=int, default=0,
                    help="exit(3) on receiving the Nth request, without replying")
    ap.add_argument("--hang-after", type=int, default=0,
                    help="after N replies, stay alive but read no more")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args()

    install_exit_handlers(args.exit_on_stdin_eof)
    prefix = args.prefix.encode()
    count_fd = open_count_file(args.count_file)

    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    code = 0
    try:
        sock.bind(args.bind)
        endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        say("READY " + endpoint)

        served = 0
        while True:
            if args.hang_after and served >= args.hang_after:
                print("rep_echo: hanging after %d requests" % served, file=sys.stderr)
                while True:
                    signal.pause()
            frames = sock.recv_multipart()
            if args.die_after and served + 1 >= args.die_after:
                print("rep_echo: dying on request %d" % (served + 1), file=sys.stderr)
                code = 3
                break
            if args.delay_ms:
                time.sleep(args.delay_ms / 1000.0)
            count(count_fd, frames[-1])
            sock.send_multipart([prefix + f for f in frames])
            served += 1
    finally:
        sock.close(linger=0)
        ctx.term()
    return code


if __name__ == "__main__":
    sys.exit(main())
