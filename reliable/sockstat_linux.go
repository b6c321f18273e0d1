package reliable

import (
	"encoding/binary"
	"os"
	"slices"
	"strconv"
	"syscall"
	"unsafe"
)

// Kernel counters of a connection's socket, which libzmq owns: how many
// bytes libzmq has read from it and written to it. Linux 4.1 or later
// (struct tcp_info's tcpi_bytes_acked and tcpi_bytes_received).

// watchSupported: the connection watch can identify, measure and drop
// connections here.
const watchSupported = true

// sockCounters are the kernel's counters of one TCP connection.
type sockCounters struct {
	read    int64 // bytes the application (libzmq) has read
	written int64 // bytes the application has written
}

// tcp_info offsets (include/uapi/linux/tcp.h).
const (
	offBytesAcked    = 120
	offBytesReceived = 128
	tcpInfoMin       = 136
)

// readSockCounters reads fd's counters: received minus still queued in
// the kernel is what libzmq read; acknowledged plus still queued is what
// libzmq wrote. ok is false when fd is not a TCP socket (ipc) or the
// kernel is too old.
func readSockCounters(fd int) (c sockCounters, ok bool) {
	var buf [256]byte
	n := uint32(len(buf))
	if _, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), syscall.IPPROTO_TCP, syscall.TCP_INFO,
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0); e != 0 || n < tcpInfoMin {
		return c, false
	}
	var inq, outq int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCINQ, uintptr(unsafe.Pointer(&inq))); e != 0 {
		return c, false
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&outq))); e != 0 {
		return c, false
	}
	c.read = int64(binary.NativeEndian.Uint64(buf[offBytesReceived:])) - int64(inq)
	c.written = int64(binary.NativeEndian.Uint64(buf[offBytesAcked:])) + int64(outq)
	return c, true
}

// sockID identifies the socket behind fd (its inode), to recognise a
// connection before acting on a descriptor that libzmq may have closed
// and reused meanwhile.
func sockID(fd int) (uint64, bool) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		return 0, false
	}
	return st.Ino, true
}

// shedSock ends a connection libzmq owns: shutdown, not close, so the
// descriptor stays libzmq's (it sees the end of the stream, drops the
// connection and closes it, freeing what the connection held). LINGER 0
// first, so that its close resets the connection: a peer still sending
// learns at once, and the kernel keeps no half-closed socket whose full
// receive window would leave the peer's writes hanging. A connection the
// peer ended already (ENOTCONN) counts as shed: libzmq is dropping it.
func shedSock(fd int) error {
	_ = syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
	if err := syscall.Shutdown(fd, syscall.SHUT_RDWR); err != syscall.ENOTCONN {
		return err
	}
	return nil
}

// connRoom returns how many connections the process's file limit leaves
// room for: the limit, less the descriptors open now, less reservedFDs for
// the rest of the process (and for connections accepted at the cap, which
// hold a descriptor until libzmq has dropped them).
func connRoom() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 30
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 1 << 30
	}
	return int(rl.Cur) - len(ents) - reservedFDs
}

// acceptedSockets returns the process's connected sockets whose local port
// is one of ports (connections accepted on them), by descriptor, with
// their inodes.
func acceptedSockets(ports []int) map[int]uint64 {
	found := make(map[int]uint64)
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return found
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ino, ok := sockID(fd)
		if !ok {
			continue
		}
		if port, _, ok := localAddr(fd); !ok || !slices.Contains(ports, port) {
			continue
		}
		if _, err := syscall.Getpeername(fd); err != nil {
			continue // the listener itself
		}
		found[fd] = ino
	}
	return found
}

// localAddr returns the local address of fd's socket: for a connection
// accepted on tcp, the listener's port (path ""); on ipc, the listener's
// path (port -1). ok is false for a descriptor that is not a socket of
// either kind.
func localAddr(fd int) (port int, path string, ok bool) {
	la, err := syscall.Getsockname(fd)
	if err != nil {
		return -1, "", false
	}
	if a, isUnix := la.(*syscall.SockaddrUnix); isUnix {
		return -1, a.Name, true
	}
	port = portOf(la)
	return port, "", port >= 0
}

func portOf(sa syscall.Sockaddr) int {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return a.Port
	case *syscall.SockaddrInet6:
		return a.Port
	}
	return -1
}
