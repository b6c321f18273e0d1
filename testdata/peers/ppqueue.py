#!/usr/bin/env python3
"""Paranoid Pirate queue (zguide chapter 4, ppqueue; rfc.zeromq.org spec 6/PPP).

Strict in the sense of zguide's ppqueue.py and ppqueue.c: it routes exactly
as they do and checks what they check, no more. Any message from a worker
makes it idle again (heartbeats included, even while it holds a request); a
one-frame message other than READY or HEARTBEAT is logged as invalid; any
longer message is a reply and goes to the frontend as it is, [client, "",
body...]; a client request goes to the backend as it came, prefixed with
the worker's address, so a REQ client's request reaches the worker as
[client, "", body]. It never retries a request whose worker died.

Clients (REQ, or DEALER with a REQ-style envelope) talk to the ROUTER
--frontend; workers (DEALER) talk to the ROUTER --backend. A worker announces
itself with READY (one frame 0x01) and heartbeats with HEARTBEAT (one frame
0x02); the queue hands each request to the least recently used idle worker,
routes the worker's reply back to the client, heartbeats idle workers every
--interval-ms, and forgets a worker silent for --liveness intervals.

Prints "READY <frontend> <backend>" once bound (real endpoints when a port
is *). Exits 0 on SIGTERM, or on stdin EOF with --exit-on-stdin-eof.
"""

import argparse
import collections
import sys
import time

import zmq

from peerlib import install_exit_handlers, say

PPP_READY = b"\x01"
PPP_HEARTBEAT = b"\x02"


class WorkerQueue:
    """Idle workers, least recently used first, each with an expiry time."""

    def __init__(self, ttl):
        self.ttl = ttl
        self.queue = collections.OrderedDict()  # address -> expiry

    def ready(self, address):
        self.queue.pop(address, None)
        self.queue[address] = time.monotonic() + self.ttl

    def purge(self):
        now = time.monotonic()
        for address, expiry in list(self.queue.items()):
            if now > expiry:
                print("ppqueue: idle worker expired: %r" % address, file=sys.stderr)
                del self.queue[address]

    def next(self):
        address, _ = self.queue.popitem(last=False)
        return address


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frontend", default="tcp://127.0.0.1:*", help="endpoint for clients")
    ap.add_argument("--backend", default="tcp://127.0.0.1:*", help="endpoint for workers")
    ap.add_argument("--interval-ms", type=int, default=1000, help="heartbeat interval")
    ap.add_argument("--liveness", type=int, default=3, help="intervals before a worker expires")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args()

    install_exit_handlers(args.exit_on_stdin_eof)
    interval = args.interval_ms / 1000.0

    ctx = zmq.Context()
    frontend = ctx.socket(zmq.ROUTER)
    backend = ctx.socket(zmq.ROUTER)
    for s in (frontend, backend):
        s.setsockopt(zmq.LINGER, 0)
    try:
        frontend.bind(args.frontend)
        backend.bind(args.backend)
        say("READY %s %s" % (frontend.getsockopt_string(zmq.LAST_ENDPOINT),
                                backend.getsockopt_string(zmq.LAST_ENDPOINT)))

        poll_workers = zmq.Poller()
        poll_workers.register(backend, zmq.POLLIN)
        poll_both = zmq.Poller()
        poll_both.register(frontend, zmq.POLLIN)
        poll_both.register(backend, zmq.POLLIN)

        workers = WorkerQueue(interval * args.liveness)
        heartbeat_at = time.monotonic() + interval

        while True:
            # Take client requests only while some worker is idle.
            poller = poll_both if workers.queue else poll_workers
            socks = dict(poller.poll(args.interval_ms))

            if socks.get(backend) == zmq.POLLIN:
                frames = backend.recv_multipart()
                address, msg = frames[0], frames[1:]
                # Any message from a worker means it is alive and idle again.
                workers.ready(address)
                if len(msg) == 1:
                    if msg[0] not in (PPP_READY, PPP_HEARTBEAT):
                        print("ppqueue: invalid message from worker: %r" % msg, file=sys.stderr)
                else:
                    frontend.send_multipart(msg)  # a reply: [client, "", body...]

            if socks.get(frontend) == zmq.POLLIN:
                frames = frontend.recv_multipart()
                backend.send_multipart([workers.next()] + frames)

            # Heartbeat idle workers (zguide's Python port only does this when
            # a worker spoke; the C original and rfc 6 do it every interval).
            if time.monotonic() >= heartbeat_at:
                for address in workers.queue:
                    backend.send_multipart([address, PPP_HEARTBEAT])
                heartbeat_at = time.monotonic() + interval
            workers.purge()
    finally:
        frontend.close(linger=0)
        backend.close(linger=0)
        ctx.term()


if __name__ == "__main__":
    sys.exit(main())
