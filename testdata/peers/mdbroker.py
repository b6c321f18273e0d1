#!/usr/bin/env python3
"""Majordomo broker (zguide chapter 4, mdbroker; ZeroMQ RFC 7 MDP/0.1 and
RFC 8 MMI), as the zguide's Python broker, with its asserts.

One ROUTER (--bind) for clients and workers. A client request waits in its
service's queue until a worker of the service is waiting; requests for a
service that has no worker wait forever, as in the zguide. Workers are
heartbeated every --interval-ms while they wait and forgotten after
--liveness silent intervals; a busy worker is neither heartbeated nor
expired (the zguide's rule). mmi.service answers 200 when the service has
a worker (the zguide's C broker; its Python port answers 200 for any
service it has seen), 404 otherwise; other mmi.* services 501.

Prints "READY <endpoint>" once bound. Exits 0 on SIGTERM, or on stdin EOF
with --exit-on-stdin-eof.
"""

import argparse
import sys
import time

import zmq

import MDP
from peerlib import install_exit_handlers, say

INTERNAL_SERVICE_PREFIX = b"mmi."


class Service(object):
    """A single service."""

    def __init__(self, name):
        self.name = name  # Service name
        self.requests = []  # List of client requests
        self.waiting = []  # List of waiting workers
        self.workers = 0  # Workers of the service


class Worker(object):
    """A worker, idle or active."""

    def __init__(self, address, lifetime):
        self.address = address  # Address to route to
        self.service = None  # Owning service, if known
        self.expiry = time.time() + lifetime  # Expires at this point, unless heartbeat


class MajorDomoBroker(object):
    def __init__(self, interval, liveness):
        self.interval = interval  # seconds
        self.expiry = interval * liveness
        self.services = {}
        self.workers = {}
        self.waiting = []
        self.heartbeat_at = time.time() + self.interval
        self.ctx = zmq.Context()
        self.socket = self.ctx.socket(zmq.ROUTER)
        self.socket.linger = 0
        self.poller = zmq.Poller()
        self.poller.register(self.socket, zmq.POLLIN)

    def mediate(self):
        """Main broker work happens here."""
        while True:
            items = self.poller.poll(self.interval * 1000)
            if items:
                msg = self.socket.recv_multipart()
                sender = msg.pop(0)
                empty = msg.pop(0)
                assert empty == b""
                header = msg.pop(0)
                if MDP.C_CLIENT == header:
                    self.process_client(sender, msg)
                elif MDP.W_WORKER == header:
                    self.process_worker(sender, msg)
                else:
                    print("mdbroker: invalid message: %r" % msg, file=sys.stderr)
            self.purge_workers()
            self.send_heartbeats()

    def process_client(self, sender, msg):
        """Process a request coming from a client."""
        assert len(msg) >= 2  # Service name + body
        service = msg.pop(0)
        # Set reply return address to client sender
        msg = [sender, b""] + msg
        if service.startswith(INTERNAL_SERVICE_PREFIX):
            self.service_internal(service, msg)
        else:
            self.dispatch(self.require_service(service), msg)

    def process_worker(self, sender, msg):
        """Process message sent to us by a worker."""
        assert len(msg) >= 1  # At least, command
        command = msg.pop(0)
        worker_ready = sender in self.workers
        worker = self.require_worker(sender)
        if MDP.W_READY == command:
            assert len(msg) >= 1  # At least, a service name
            service = msg.pop(0)
            # Not first command in session or Reserved service name
            if worker_ready or service.startswith(INTERNAL_SERVICE_PREFIX):
                self.delete_worker(worker, True)
            else:
                # Attach worker to service and mark as idle
                worker.service = self.require_service(service)
                worker.service.workers += 1
                self.worker_waiting(worker)
        elif MDP.W_REPLY == command:
            if worker_ready:
                # Remove & save client return envelope and insert the
                # protocol header and service name, then rewrap envelope.
                client = msg.pop(0)
                empty = msg.pop(0)
                assert empty == b""
                msg = [client, b"", MDP.C_CLIENT, worker.service.name] + msg
                self.socket.send_multipart(msg)
                self.worker_waiting(worker)
            else:
                self.delete_worker(worker, True)
        elif MDP.W_HEARTBEAT == command:
            if worker_ready:
                worker.expiry = time.time() + self.expiry
            else:
                self.delete_worker(worker, True)
        elif MDP.W_DISCONNECT == command:
            self.delete_worker(worker, False)
        else:
            print("mdbroker: invalid worker message: %r" % msg, file=sys.stderr)

    def delete_worker(self, worker, disconnect):
        """Deletes worker from all data structures, and deletes worker."""
        assert worker is not None
        if disconnect:
            self.send_to_worker(worker, MDP.W_DISCONNECT, None, None)
        if worker.service is not None:
            if worker in worker.service.waiting:
                worker.service.waiting.remove(worker)
            worker.service.workers -= 1
        if worker in self.waiting:
            self.waiting.remove(worker)
        self.workers.pop(worker.address, None)

    def require_worker(self, address):
        """Finds the worker (creates if necessary)."""
        assert address is not None
        worker = self.workers.get(address)
        if worker is None:
            worker = Worker(address, self.expiry)
            self.workers[address] = worker
        return worker

    def require_service(self, name):
        """Locates the service (creates if necessary)."""
        assert name is not None
        service = self.services.get(name)
        if service is None:
            service = Service(name)
            self.services[name] = service
        return service

    def service_internal(self, service, msg):
        """Handle internal service according to 8/MMI specification."""
        returncode = b"501"
        if b"mmi.service" == service:
            name = msg[-1]
            known = self.services.get(name)
            returncode = b"200" if known is not None and known.workers > 0 else b"404"
        msg[-1] = returncode
        # insert the protocol header and service name after the routing envelope ([client, ''])
        msg = msg[:2] + [MDP.C_CLIENT, service] + msg[2:]
        self.socket.send_multipart(msg)

    def send_heartbeats(self):
        """Send heartbeats to idle workers if it's time."""
        if time.time() > self.heartbeat_at:
            for worker in self.waiting:
                self.send_to_worker(worker, MDP.W_HEARTBEAT, None, None)
            self.heartbeat_at = time.time() + self.interval

    def purge_workers(self):
        """Look for & kill expired workers (the oldest waiting come first)."""
        while self.waiting:
            w = self.waiting[0]
            if w.expiry < time.time():
                print("mdbroker: deleting expired worker %r" % w.address, file=sys.stderr)
                self.delete_worker(w, False)
            else:
                break

    def worker_waiting(self, worker):
        """This worker is now waiting for work."""
        # Queue to broker and service waiting lists
        self.waiting.append(worker)
        worker.service.waiting.append(worker)
        worker.expiry = time.time() + self.expiry
        self.dispatch(worker.service, None)

    def dispatch(self, service, msg):
        """Dispatch requests to waiting workers as possible."""
        assert service is not None
        if msg is not None:  # Queue message if any
            service.requests.append(msg)
        self.purge_workers()
        while service.waiting and service.requests:
            msg = service.requests.pop(0)
            worker = service.waiting.pop(0)
            self.waiting.remove(worker)
            self.send_to_worker(worker, MDP.W_REQUEST, None, msg)

    def send_to_worker(self, worker, command, option, msg=None):
        """Send message to worker. If message is provided, sends that message."""
        if msg is None:
            msg = []
        elif not isinstance(msg, list):
            msg = [msg]
        # Stack routing and protocol envelopes to start of message
        # and routing envelope
        if option is not None:
            msg = [option] + msg
        msg = [worker.address, b"", MDP.W_WORKER, command] + msg
        self.socket.send_multipart(msg)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", default="tcp://127.0.0.1:*", help="endpoint to bind")
    ap.add_argument("--interval-ms", type=int, default=2500, help="heartbeat interval")
    ap.add_argument("--liveness", type=int, default=3, help="silent intervals before a worker expires")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args()

    install_exit_handlers(args.exit_on_stdin_eof)
    broker = MajorDomoBroker(args.interval_ms / 1000.0, args.liveness)
    try:
        broker.socket.bind(args.bind)
        say("READY " + broker.socket.getsockopt(zmq.LAST_ENDPOINT).decode())
        broker.mediate()
    finally:
        broker.socket.close(linger=0)
        broker.ctx.term()


if __name__ == "__main__":
    sys.exit(main())
