#!/usr/bin/env bash
# Prints the path of a python3 interpreter that can `import zmq` (pyzmq).
#
# Order: $ZMQGUARD_PYTHON if set, /usr/bin/python3 (Debian's system python
# with python3-zmq), then every python3 on PATH. A python3 that comes first on
# PATH (pyenv shims, venvs) often lacks pyzmq, hence the preference.
#
# The check runs from / so that the repository's own zmq/ directory is not
# mistaken for the module: from the repo root, `python3 -c 'import zmq'`
# succeeds on any python3 (zmq/ is an implicit namespace package there).
set -euo pipefail

has_zmq() {
	[ -x "$1" ] || return 1
	(cd / && "$1" -c 'import zmq; zmq.zmq_version()') >/dev/null 2>&1
}

candidates=()
if [ -n "${ZMQGUARD_PYTHON:-}" ]; then
	candidates+=("$ZMQGUARD_PYTHON")
fi
candidates+=(/usr/bin/python3)
IFS=: read -r -a path_dirs <<<"${PATH:-}"
for dir in "${path_dirs[@]}"; do
	[ -n "$dir" ] && candidates+=("$dir/python3")
done

for py in "${candidates[@]}"; do
	if has_zmq "$py"; then
		echo "$py"
		exit 0
	fi
done

cat >&2 <<'HINT'
find-python: no python3 with pyzmq found (tried $ZMQGUARD_PYTHON, /usr/bin/python3, python3 on PATH).
  Debian/Ubuntu: sudo apt-get install python3-zmq   (or run scripts/install-deps.sh)
  Fedora:        sudo dnf install python3-zmq
  macOS:         pip3 install pyzmq
  Or set ZMQGUARD_PYTHON to an interpreter that has pyzmq.
HINT
exit 1
