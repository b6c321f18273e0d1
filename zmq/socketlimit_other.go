//go:build !unix

package zmq

func fileLimit() int         { return MaxSocketsDflt }
func openFiles() (int, bool) { return 0, false }
