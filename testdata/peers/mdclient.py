#!/usr/bin/env python3
"""Majordomo client (zguide chapter 4, mdclient with mdcliapi; ZeroMQ RFC 7
MDP/0.1), as the zguide's Python client API, with its asserts.

Over REQ to a broker (--connect) it sends --requests N requests for
--service, the bodies --tag + "1" .. --tag + "N", and checks each reply
equals the request, or --expect-prefix + request. A try times out after
--timeout-ms; the socket is then closed with LINGER 0 and a new one sends
the request again, up to --retries tries per request in all.

Prints "OK <seq>" per good reply; on a wrong reply "BAD <seq> <reply>" and
exits 1; when a request runs out of tries "GIVEUP <seq>" and exits 2; exits
0 when every reply was right. With --expect-error CODE a reply must be the
error reply [ZGERR, CODE, message] of a zmqguard broker or worker, and
prints "ERR <seq> <code>". With --mmi NAME it asks mmi.service about NAME
instead and prints "MMI <name> <code>". Prints "READY <endpoint>" first.
Exits 0 on SIGTERM, or on stdin EOF with --exit-on-stdin-eof.
"""

import argparse
import sys

import zmq

import MDP
from peerlib import install_exit_handlers, say


class MajorDomoClient(object):
    """Majordomo Protocol Client API, Python version (the zguide's)."""

    def __init__(self, broker, timeout_ms, retries):
        self.broker = broker
        self.timeout = timeout_ms
        self.retries = retries
        self.ctx = zmq.Context()
        self.poller = zmq.Poller()
        self.client = None
        self.reconnect_to_broker()

    def reconnect_to_broker(self):
        """Connect or reconnect to broker."""
        if self.client:
            self.poller.unregister(self.client)
            self.client.close()
        self.client = self.ctx.socket(zmq.REQ)
        self.client.linger = 0
        self.client.connect(self.broker)
        self.poller.register(self.client, zmq.POLLIN)

    def send(self, service, request):
        """Send request to broker and get reply by hook or crook.

        Takes ownership of request message and destroys it when sent.
        Returns the reply message or None if there was no reply.
        """
        if not isinstance(request, list):
            request = [request]
        request = [MDP.C_CLIENT, service] + request
        reply = None
        retries = self.retries
        while retries > 0:
            self.client.send_multipart(request)
            items = self.poller.poll(self.timeout)
            if items:
                msg = self.client.recv_multipart()
                # Don't try to handle errors, just assert noisily
                assert len(msg) >= 3
                header = msg.pop(0)
                assert MDP.C_CLIENT == header
                reply_service = msg.pop(0)
                assert service == reply_service
                reply = msg
                break
            else:
                print("mdclient: no reply, reconnecting...", file=sys.stderr)
                self.reconnect_to_broker()
                retries -= 1
        return reply

    def destroy(self):
        self.client.close(linger=0)
        self.ctx.term()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connect", required=True, help="broker endpoint")
    ap.add_argument("--service", default="echo", help="service name")
    ap.add_argument("--requests", type=int, default=10, help="number of requests")
    ap.add_argument("--tag", default="", help="prepended to each request body")
    ap.add_argument("--timeout-ms", type=int, default=2500, help="reply timeout per try")
    ap.add_argument("--retries", type=int, default=3, help="tries per request")
    ap.add_argument("--expect-prefix", default="", help="expected prefix of each reply frame")
    ap.add_argument("--expect-error", help="expect the error reply [ZGERR, CODE, message]")
    ap.add_argument("--mmi", help="ask mmi.service about this service instead")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args()

    install_exit_handlers(args.exit_on_stdin_eof)
    session = MajorDomoClient(args.connect, args.timeout_ms, args.retries)
    try:
        say("READY " + args.connect)
        if args.mmi:
            reply = session.send(b"mmi.service", args.mmi.encode())
            if reply is None:
                say("GIVEUP mmi")
                return 2
            say("MMI %s %s" % (args.mmi, reply[0].decode()))
            return 0
        service = args.service.encode()
        for seq in range(1, args.requests + 1):
            body = ("%s%d" % (args.tag, seq)).encode()
            reply = session.send(service, body)
            if reply is None:
                say("GIVEUP %d" % seq)
                return 2
            if args.expect_error is not None:
                ok = len(reply) == 3 and reply[0] == b"ZGERR" and reply[1] == args.expect_error.encode()
                if ok:
                    say("ERR %d %s" % (seq, reply[1].decode()))
                    continue
            elif reply == [args.expect_prefix.encode() + body]:
                say("OK %d" % seq)
                continue
            say("BAD %d %r" % (seq, reply))
            return 1
        return 0
    finally:
        session.destroy()


if __name__ == "__main__":
    sys.exit(main())
