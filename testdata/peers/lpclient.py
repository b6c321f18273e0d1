#!/usr/bin/env python3
"""Lazy Pirate client (zguide chapter 4, lpclient): a test peer for servers.

Sends the sequence numbers 1..N as strings over REQ and checks that each
reply equals the request (or --expect-prefix + request). On a timeout it
closes the REQ socket with LINGER 0, opens a new one and resends, up to
--retries tries per request in all.

Prints "READY <endpoint>" once connected, "OK <seq>" per good reply,
"BAD <seq> <reply>" and exits 1 on a wrong reply, "GIVEUP" and exits 2 when
a request runs out of tries; exits 0 when every reply was right.
Exits 0 on SIGTERM, or on stdin EOF with --exit-on-stdin-eof.
"""

import argparse
import sys

import zmq

from peerlib import install_exit_handlers, say


def new_socket(ctx, endpoint):
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connect", required=True, help="server endpoint")
    ap.add_argument("--requests", type=int, default=10, help="number of requests")
    ap.add_argument("--timeout-ms", type=int, default=2500, help="reply timeout per try")
    ap.add_argument("--retries", type=int, default=3, help="tries per request")
    ap.add_argument("--expect-prefix", default="", help="server's reply prefix")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args()

    install_exit_handlers(args.exit_on_stdin_eof)
    prefix = args.expect_prefix.encode()

    ctx = zmq.Context()
    sock = None
    try:
        sock = new_socket(ctx, args.connect)
        say("READY " + args.connect)
        for seq in range(1, args.requests + 1):
            request = str(seq).encode()
            sock.send(request)
            tries_left = args.retries
            while True:
                if sock.poll(args.timeout_ms, zmq.POLLIN):
                    reply = sock.recv()
                    if reply != prefix + request:
                        say("BAD %d %s" % (seq, reply.decode(errors="backslashreplace")))
                        return 1
                    say("OK %d" % seq)
                    break
                tries_left -= 1
                print("lpclient: no reply to %d, %d tries left" % (seq, tries_left),
                      file=sys.stderr)
                # A REQ waiting for a reply cannot send again: throw it away
                # (LINGER 0 so the unanswered request is not delivered later).
                sock.close(linger=0)
                sock = None
                if tries_left <= 0:
                    say("GIVEUP")
                    return 2
                sock = new_socket(ctx, args.connect)
                sock.send(request)
        return 0
    finally:
        if sock is not None:
            sock.close(linger=0)
        ctx.term()


if __name__ == "__main__":
    sys.exit(main())
