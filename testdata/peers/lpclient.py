#!/usr/bin/env python3
"""Lazy Pirate client (zguide chapter 4, lpclient): a test peer for servers.

Strict, like zguide's lpclient.py: it sends sequence numbers as strings over
REQ, reads the first frame of each reply and checks int(reply) == sequence.
A reply that is a number but not the sequence is logged as malformed and the
client keeps waiting (it then times out and resends); a reply that is not a
number at all, such as an error reply [ZGERR, code, message], raises
ValueError and the client crashes with a traceback and exit status 1, as the
original does. On a timeout it closes the REQ socket with LINGER 0, opens a
new one and resends, up to --retries tries per request in all.

The sequence runs from --start to --start + --requests - 1 (so that several
clients can send distinct requests). Prints "READY <endpoint>" once
connected, "OK <seq>" per good reply, "GIVEUP <seq>" and exits 2 when a
request runs out of tries; exits 0 when every request was answered. Exits 0
on SIGTERM, or on stdin EOF with --exit-on-stdin-eof.
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
    ap.add_argument("--start", type=int, default=1, help="first sequence number")
    ap.add_argument("--timeout-ms", type=int, default=2500, help="reply timeout per try")
    ap.add_argument("--retries", type=int, default=3, help="tries per request")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args()

    install_exit_handlers(args.exit_on_stdin_eof)

    ctx = zmq.Context()
    sock = None
    try:
        sock = new_socket(ctx, args.connect)
        say("READY " + args.connect)
        for sequence in range(args.start, args.start + args.requests):
            request = str(sequence).encode()
            sock.send(request)
            retries_left = args.retries
            while True:
                if (sock.poll(args.timeout_ms) & zmq.POLLIN) != 0:
                    reply = sock.recv()
                    if int(reply) == sequence:  # zguide's check: ValueError on ZGERR
                        say("OK %d" % sequence)
                        break
                    print("E: malformed reply from server: %r" % reply, file=sys.stderr)
                    continue
                retries_left -= 1
                print("W: no response to %d from server" % sequence, file=sys.stderr)
                # The socket is confused: close it (LINGER 0, so the
                # unanswered request is not delivered later) and resend on
                # a new one.
                sock.close(linger=0)
                sock = None
                if retries_left == 0:
                    say("GIVEUP %d" % sequence)
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
