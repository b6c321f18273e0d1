#!/usr/bin/env python3
"""Paranoid Pirate worker (zguide chapter 4, ppworker; rfc.zeromq.org spec 6/PPP).

A DEALER connects to a queue's backend (--connect), sends READY (one frame
0x01), heartbeats (one frame 0x02) every --interval-ms and echoes each
request: the envelope up to and including the first empty frame is kept,
every body frame gets --prefix prepended. When the queue is silent for
--liveness intervals the worker closes its socket (LINGER 0), waits, and
reconnects with a new socket; the wait starts at --reconnect-ms and doubles
up to --reconnect-max-ms.

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


def echo(frames, prefix):
    """Keep the envelope [client, ..., ""], prefix the body frames."""
    try:
        body = frames.index(b"") + 1
    except ValueError:
        body = 1
    return frames[:body] + [prefix + f for f in frames[body:]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connect", required=True, help="queue backend endpoint")
    ap.add_argument("--interval-ms", type=int, default=1000, help="heartbeat interval")
    ap.add_argument("--liveness", type=int, default=3, help="silent intervals before reconnect")
    ap.add_argument("--reconnect-ms", type=int, default=1000, help="first reconnect delay")
    ap.add_argument("--reconnect-max-ms", type=int, default=32000, help="reconnect delay cap")
    ap.add_argument("--delay-ms", type=int, default=0, help="sleep before each reply")
    ap.add_argument("--prefix", default="", help="prepended to every echoed body frame")
    ap.add_argument("--count-file", help="append each executed request's last frame")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args()

    install_exit_handlers(args.exit_on_stdin_eof)
    prefix = args.prefix.encode()
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
                if len(frames) > 1:  # a request: [client, "", body...]
                    if args.delay_ms:
                        time.sleep(args.delay_ms / 1000.0)
                    if count_fd is not None:
                        os.write(count_fd, frames[-1] + b"\n")
                    sock.send_multipart(echo(frames, prefix))
                elif frames[0] != PPP_HEARTBEAT:
                    print("ppworker: invalid message: %r" % frames, file=sys.stderr)
                liveness = args.liveness
                reconnect_ms = args.reconnect_ms
            else:
                liveness -= 1
                if liveness == 0:
                    print("ppworker: queue silent, reconnecting in %d ms" % reconnect_ms,
                          file=sys.stderr)
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
