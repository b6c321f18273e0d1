#!/usr/bin/env python3
"""Majordomo worker (zguide chapter 4, mdworker with mdwrkapi; ZeroMQ RFC 7
MDP/0.1), as the zguide's Python worker API, with its asserts.

A DEALER connects to a broker (--connect), sends READY for --service and
echoes each request's body, every frame prefixed with --prefix, with the
client address it came with. It heartbeats every --interval-ms; after
--liveness polls of one interval without a message from the broker it
sleeps --reconnect-ms and reconnects with a new socket (and READY). On
DISCONNECT it reconnects at once. While it handles a request (--delay-ms)
it sends nothing, as in the zguide.

Prints "READY <endpoint>" after the first connect. Exits 0 on SIGTERM, or
on stdin EOF with --exit-on-stdin-eof.
"""

import argparse
import sys
import time

import zmq

import MDP
from peerlib import count, install_exit_handlers, open_count_file, say


class MajorDomoWorker(object):
    """Majordomo Protocol Worker API, Python version (the zguide's)."""

    def __init__(self, broker, service, heartbeat_ms, liveness, reconnect_ms):
        self.broker = broker
        self.service = service
        self.heartbeat = heartbeat_ms  # Heartbeat delay, msecs
        self.reconnect = reconnect_ms  # Reconnect delay, msecs
        self.timeout = heartbeat_ms  # poller timeout
        self.heartbeat_liveness = liveness
        self.liveness = 0  # How many attempts left
        self.heartbeat_at = 0  # When to send HEARTBEAT
        self.expect_reply = False  # False only at start
        self.reply_to = None  # Return address, if any
        self.ctx = zmq.Context()
        self.poller = zmq.Poller()
        self.worker = None  # Socket to broker
        self.reconnect_to_broker()

    def reconnect_to_broker(self):
        """Connect or reconnect to broker."""
        if self.worker:
            self.poller.unregister(self.worker)
            self.worker.close()
        self.worker = self.ctx.socket(zmq.DEALER)
        self.worker.linger = 0
        self.worker.connect(self.broker)
        self.poller.register(self.worker, zmq.POLLIN)
        # Register service with broker
        self.send_to_broker(MDP.W_READY, self.service, [])
        # If liveness hits zero, queue is considered disconnected
        self.liveness = self.heartbeat_liveness
        self.heartbeat_at = time.time() + 1e-3 * self.heartbeat

    def send_to_broker(self, command, option=None, msg=None):
        """Send message to broker. If no msg is provided, creates one internally."""
        if msg is None:
            msg = []
        elif not isinstance(msg, list):
            msg = [msg]
        if option:
            msg = [option] + msg
        msg = [b"", MDP.W_WORKER, command] + msg
        self.worker.send_multipart(msg)

    def recv(self, reply=None):
        """Send reply, if any, to broker and wait for next request."""
        # Format and send the reply if we were provided one
        assert reply is not None or not self.expect_reply
        if reply is not None:
            assert self.reply_to is not None
            reply = [self.reply_to, b""] + reply
            self.send_to_broker(MDP.W_REPLY, msg=reply)
        self.expect_reply = True
        while True:
            # Poll socket for a reply, with timeout
            items = self.poller.poll(self.timeout)
            if items:
                msg = self.worker.recv_multipart()
                self.liveness = self.heartbeat_liveness
                # Don't try to handle errors, just assert noisily
                assert len(msg) >= 3
                empty = msg.pop(0)
                assert empty == b""
                header = msg.pop(0)
                assert header == MDP.W_WORKER
                command = msg.pop(0)
                if command == MDP.W_REQUEST:
                    # We should pop and save as many addresses as there are
                    # up to a null part, but for now, just save one...
                    self.reply_to = msg.pop(0)
                    # pop empty
                    empty = msg.pop(0)
                    assert empty == b""
                    return msg  # We have a request to process
                elif command == MDP.W_HEARTBEAT:
                    pass  # Do nothing for heartbeats
                elif command == MDP.W_DISCONNECT:
                    self.reconnect_to_broker()
                else:
                    print("mdworker: invalid input message: %r" % msg, file=sys.stderr)
            else:
                self.liveness -= 1
                if self.liveness == 0:
                    print("mdworker: disconnected from broker - retrying...", file=sys.stderr)
                    time.sleep(1e-3 * self.reconnect)
                    self.reconnect_to_broker()
            # Send HEARTBEAT if it's time
            if time.time() > self.heartbeat_at:
                self.send_to_broker(MDP.W_HEARTBEAT)
                self.heartbeat_at = time.time() + 1e-3 * self.heartbeat

    def destroy(self):
        if self.worker:
            self.worker.close(linger=0)
        self.ctx.term()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connect", required=True, help="broker endpoint")
    ap.add_argument("--service", default="echo", help="service name")
    ap.add_argument("--interval-ms", type=int, default=2500, help="heartbeat interval")
    ap.add_argument("--liveness", type=int, default=3, help="silent intervals before reconnect")
    ap.add_argument("--reconnect-ms", type=int, default=2500, help="pause before reconnecting")
    ap.add_argument("--delay-ms", type=int, default=0, help="sleep before each reply")
    ap.add_argument("--prefix", default="", help="prepended to every echoed body frame")
    ap.add_argument("--count-file", help="append each executed request's last frame")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args()

    install_exit_handlers(args.exit_on_stdin_eof)
    prefix = args.prefix.encode()
    count_fd = open_count_file(args.count_file)
    worker = MajorDomoWorker(args.connect, args.service.encode(), args.interval_ms,
                             args.liveness, args.reconnect_ms)
    try:
        say("READY " + args.connect)
        reply = None
        while True:
            request = worker.recv(reply)
            if args.delay_ms:
                time.sleep(args.delay_ms / 1000.0)
            count(count_fd, request[-1] if request else b"")
            reply = [prefix + f for f in request]
    finally:
        worker.destroy()


if __name__ == "__main__":
    sys.exit(main())
