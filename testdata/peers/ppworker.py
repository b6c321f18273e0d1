#!/usr/bin/env python3
"""Paranoid Pirate worker (zguide chapter 4, ppworker; rfc.zeromq.org spec 6/PPP).

Strict, like zguide's ppworker.py, ppworker.c and pebbe's ppworker.go: a
request is exactly three frames, [client address, "", body], and is echoed
as it came; a one-frame HEARTBEAT proves the queue alive; anything else is
logged as an invalid message ("E: invalid message" on stderr, and a line
"INVALID <frames>" on stdout for tests) and not answered.

A DEALER connects to a queue's backend (--connect), sends READY (one frame
0x01) and heartbeats (one frame 0x02) every --interval-ms. When nothing at
all came from the queue for --liveness intervals the worker closes its
socket (LINGER 0), waits, and reconnects with a new socket; the wait starts
at --reconnect-ms and doubles up to --reconnect-max-ms, and any message from
the queue resets it, as in zguide.

Prints "READY <endpoint>" after the first connect. Exits 0 on SIGTERM, or on
stdin EOF with --exit-on-stdin-eof.
"""

import argparse
import os
import random
import sys
import time

import zmq

from peerlib import install_exit_handlers, say

PPP_READY = b"\x01"
PPP_HEARTBEAT = b"\x02"


def worker_socket(ctx, endpoint):
    """A fresh DEALER with a random identity, connected, READY sent."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    identity = b"%04X-%04X" % (random.randint(0, 0xFFFF), random.randint(0, 0xFFFF))
    sock.setsockopt(zmq.IDENTITY, identity)
    sock.connect(endpoint)
    sock.send(PPP_READY)
    return sock


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connect", required=True, help="queue backend endpoint")
    ap.add_argument("--interval-ms", type=int, default=1000, help="heartbeat interval")
    ap.add_argument("--liveness", type=int, default=3, help="silent intervals before reconnect")
    ap.add_argument("--reconnect-ms", type=int, default=1000, help="first reconnect delay")
    ap.add_argument("--reconnect-max-ms", type=int, default=32000, help="reconnect delay cap")
    ap.add_argument("--delay-ms", type=int, default=0, help="work this long before each reply")
    ap.add_argument("--count-file", help="append each request's body when its work starts")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args()

    install_exit_handlers(args.exit_on_stdin_eof)
    interval = args.interval_ms / 1000.0
    count_fd = None
    if args.count_file:
        count_fd = os.open(args.count_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    ctx = zmq.Context()
    sock = None
    try:
        sock = worker_socket(ctx, args.connect)
        say("READY " + args.connect)
        liveness = args.liveness
        reconnect_ms = args.reconnect_ms
        heartbeat_at = time.monotonic() + interval
        while True:
            if sock.poll(args.interval_ms, zmq.POLLIN):
                frames = sock.recv_multipart()
                if len(frames) == 3:
                    # [address, "", body], the address opaque, echoed as it is.
                    if count_fd is not None:
                        os.write(count_fd, frames[2] + b"\n")
                    if args.delay_ms:
                        time.sleep(args.delay_ms / 1000.0)  # the work
                    sock.send_multipart(frames)
                    liveness = args.liveness
                elif len(frames) == 1 and frames[0] == PPP_HEARTBEAT:
                    liveness = args.liveness
                else:
                    print("E: invalid message: %r" % frames, file=sys.stderr)
                    say("INVALID %d" % len(frames))
                reconnect_ms = args.reconnect_ms
            else:
                liveness -= 1
                if liveness == 0:
                    print("W: heartbeat failure, can't reach queue; reconnecting in %d ms"
                          % reconnect_ms, file=sys.stderr)
                    sock.close(linger=0)
                    sock = None
                    time.sleep(reconnect_ms / 1000.0)
                    reconnect_ms = min(reconnect_ms * 2, args.reconnect_max_ms)
                    sock = worker_socket(ctx, args.connect)
                    liveness = args.liveness
            if time.monotonic() >= heartbeat_at:
                heartbeat_at = time.monotonic() + interval
                sock.send(PPP_HEARTBEAT)
    finally:
        if sock is not None:
            sock.close(linger=0)
        ctx.term()


if __name__ == "__main__":
    sys.exit(main())
