package bench

import (
	"encoding/json"
	"errors"
	"regexp"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	MaybeChild()
	goleak.VerifyTestMain(m)
}

// TestQuick runs a few rows in quick mode, one round, to keep the suite
// compiling and working; it judges that every variant ran, never speed.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real sockets and a child process")
	}
	cfg := &Config{Quick: true, Rounds: 1, Filter: regexp.MustCompile(`^(push-pull/inproc/16B|req-rep/inproc|allocs/single-16B|cancel-wakeup|dead-peer/sigkill|mdp/1-worker)$`)}
	rep := Run(cfg, Rows())
	if rep.Failures > 0 {
		t.Fatalf("%d variant runs failed:\n%s", rep.Failures, rep.Table())
	}
	rows := map[string]bool{}
	for _, r := range rep.Results {
		rows[r.Row] = true
		if len(r.Samples) != 1 {
			t.Errorf("%s/%s/%s: %d samples, want 1", r.Row, r.Variant, r.Metric, len(r.Samples))
		}
		if r.Baseline != "" && r.Ratio == nil {
			t.Errorf("%s/%s/%s: no ratio", r.Row, r.Variant, r.Metric)
		}
	}
	if len(rows) != 6 {
		t.Errorf("ran rows %v, want 6", rows)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep.Table())
}

// TestLabQuick runs the lab's rows once, quick, so that they keep working.
func TestLabQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real sockets")
	}
	rep := Run(&Config{Quick: true, Rounds: 1}, LabRows())
	if rep.Failures > 0 {
		t.Fatalf("%d variant runs failed:\n%s", rep.Failures, rep.Table())
	}
	if len(rep.Results) != 24 {
		t.Errorf("%d results, want 24 (3 rows of 8 variants)", len(rep.Results))
	}
	t.Logf("\n%s", rep.Table())
}

func TestStats(t *testing.T) {
	med, lo, hi := stats([]float64{3, 1, 2, 10})
	if med != 2.5 || lo != 1 || hi != 10 {
		t.Fatalf("stats = %v %v %v", med, lo, hi)
	}
}

// TestTimeStreamWaitsForTheSender: after a failed receive, timeStream
// unblocks the sender and returns only once it is done (the lab pump's
// ring is freed right after).
func TestTimeStreamWaitsForTheSender(t *testing.T) {
	stop := make(chan struct{})
	var returned atomic.Bool
	send := func(int) error {
		<-stop
		returned.Store(true)
		return errors.New("closed")
	}
	recv := func(int) (int, error) { return 0, errors.New("receive failed") }
	_, err := timeStream(10, 5, send, recv, func() { close(stop) })
	if err == nil || err.Error() != "receive failed" {
		t.Fatalf("err = %v, want the receive's", err)
	}
	if !returned.Load() {
		t.Fatal("timeStream returned while the sender was still sending")
	}
}
