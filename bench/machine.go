package bench

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/zmqguard/zmqguard/zmq"
)

// Machine describes where a report was measured.
type Machine struct {
	NumCPU  int               `json:"num_cpu"`
	CPU     string            `json:"cpu"`
	Go      string            `json:"go"`
	OS      string            `json:"os"`
	Libzmq  string            `json:"libzmq"`
	Modules map[string]string `json:"modules"` // pebbe/zmq4 and go-zeromq versions
}

func machine() Machine {
	m := Machine{NumCPU: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, Modules: map[string]string{}}
	maj, mnr, pat := zmq.Version()
	m.Libzmq = fmt.Sprintf("%d.%d.%d", maj, mnr, pat)
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/pebbe/zmq4" || d.Path == "github.com/go-zeromq/zmq4" {
				m.Modules[d.Path] = d.Version
			}
		}
	}
	return m
}
