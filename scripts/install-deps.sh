#!/usr/bin/env bash
# Makes sure the system packages zmqguard needs are installed:
#   libzmq (headers + pkg-config file) for cgo, pkg-config, a python3
#   with pyzmq for the interop peers in testdata/peers, and etcd (Debian's
#   etcd-server) for contrib/etcd's tests and the scale-out tests.
# Does nothing, silently, when all is present. Installs them with apt-get on
# Debian/Ubuntu; elsewhere prints what to install and exits 1.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

have_libzmq() {
	command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libzmq
}

have_pyzmq() {
	bash "$here/find-python.sh" >/dev/null 2>&1
}

have_etcd() {
	command -v etcd >/dev/null 2>&1
}

if have_libzmq && have_pyzmq && have_etcd; then
	exit 0
fi

if command -v apt-get >/dev/null 2>&1; then
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "install-deps: not root and no sudo; run as root:" >&2
			echo "  apt-get update && apt-get install -y --no-install-recommends libzmq3-dev pkg-config python3-zmq etcd-server" >&2
			exit 1
		fi
		sudo=(sudo)
	fi
	echo "install-deps: installing libzmq3-dev pkg-config python3-zmq etcd-server with apt-get" >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		libzmq3-dev pkg-config python3-zmq etcd-server </dev/null >&2
	if have_libzmq && have_pyzmq && have_etcd; then
		exit 0
	fi
	echo "install-deps: packages installed but libzmq, pyzmq or etcd still not found" >&2
	exit 1
fi

{
	echo "install-deps: missing libzmq (pkg-config libzmq) and/or a python3 with pyzmq."
	if command -v brew >/dev/null 2>&1; then
		echo "  macOS: brew install zeromq pkg-config && pip3 install pyzmq"
	elif command -v dnf >/dev/null 2>&1; then
		echo "  Fedora: sudo dnf install zeromq-devel pkgconf-pkg-config python3-zmq"
	else
		echo "  macOS:  brew install zeromq pkg-config && pip3 install pyzmq"
		echo "  Fedora: sudo dnf install zeromq-devel pkgconf-pkg-config python3-zmq"
		echo "  Debian: sudo apt-get install libzmq3-dev pkg-config python3-zmq"
	fi
} >&2
exit 1
