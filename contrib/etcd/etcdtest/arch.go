package etcdtest

import "runtime"

// goarch is the value of ETCD_UNSUPPORTED_ARCH, which etcd 3.4 wants on
// architectures other than amd64 (arm64 among them).
func goarch() string { return runtime.GOARCH }
