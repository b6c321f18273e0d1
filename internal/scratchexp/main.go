package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/zmq"
)

var payload = []byte("0123456789abcdef")

func serveGuard(bind string) {
	c, _ := zmq.NewContext()
	rep, _ := c.NewSocket(zmq.REP)
	rep.Bind(bind)
	for {
		m, err := rep.RecvBytes(0)
		if err != nil {
			return
		}
		rep.SendBytes(m, 0)
	}
}

func servePebbe(bind string) {
	ctx, _ := zmq4.NewContext()
	rep, _ := ctx.NewSocket(zmq4.REP)
	rep.Bind(bind)
	for {
		m, err := rep.RecvBytes(0)
		if err != nil {
			return
		}
		rep.SendBytes(m, 0)
	}
}

func measure(n int, rt func()) (p50, p99, mean float64) {
	for range 200 {
		rt()
	}
	d := make([]time.Duration, n)
	st := time.Now()
	for i := range d {
		t := time.Now()
		rt()
		d[i] = time.Since(t)
	}
	el := time.Since(st)
	slices.Sort(d)
	return float64(d[n/2].Microseconds()), float64(d[n*99/100].Microseconds()), float64(el.Microseconds()) / float64(n)
}

func main() {
	switch os.Args[1] {
	case "serve-guard":
		serveGuard(os.Args[2])
		return
	case "serve-pebbe":
		servePebbe(os.Args[2])
		return
	}
	kind, ep := os.Args[1], os.Args[2]
	n := 20000
	if len(os.Args) > 3 {
		fmt.Sscan(os.Args[3], &n)
	}
	var rt func()
	switch kind {
	case "pebbe":
		pctx, _ := zmq4.NewContext()
		preq, _ := pctx.NewSocket(zmq4.REQ)
		preq.Connect(ep)
		rt = func() { preq.SendBytes(payload, 0); preq.RecvBytes(0) }
	case "zmq":
		gctx, _ := zmq.NewContext()
		greq, _ := gctx.NewSocket(zmq.REQ)
		greq.Connect(ep)
		rt = func() { greq.SendBytes(payload, 0); greq.RecvBytes(0) }
	}
	a, b, m := measure(n, rt)
	fmt.Printf("%s p50 %v p99 %v mean %.1f\n", kind, a, b, m)
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		st, _ := os.ReadFile("/proc/self/task/" + t.Name() + "/stat")
		f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
		status, _ := os.ReadFile("/proc/self/task/" + t.Name() + "/status")
		var vol, nonvol string
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "voluntary_ctxt_switches") {
				vol = strings.Fields(line)[1]
			}
			if strings.HasPrefix(line, "nonvoluntary_ctxt_switches") {
				nonvol = strings.Fields(line)[1]
			}
		}
		comm, _ := os.ReadFile("/proc/self/task/" + t.Name() + "/comm")
		fmt.Printf("  %-14s utime %s stime %s vol %s nonvol %s\n", strings.TrimSpace(string(comm)), f[11], f[12], vol, nonvol)
	}
}
