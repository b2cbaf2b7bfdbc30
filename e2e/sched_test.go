//go:build linux

package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// threadPolicies counts the scheduling policies of process pid's threads,
// from field 41 of /proc/PID/task/TID/stat (0 SCHED_OTHER, 3 SCHED_BATCH).
func threadPolicies(t *testing.T, pid int) map[int]int {
	t.Helper()
	stats, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/stat")
	if err != nil || len(stats) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	count := map[int]int{}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // field 3 on
		if len(fields) < 39 {
			t.Fatalf("%s: %d fields after the command", f, len(fields))
		}
		p, err := strconv.Atoi(fields[41-3])
		if err != nil {
			t.Fatalf("%s: policy %q", f, fields[41-3])
		}
		count[p]++
	}
	return count
}

// TestSched: dynamod serve runs every thread under SCHED_BATCH by default
// (when started under SCHED_OTHER), threads started under load included,
// and --sched inherit leaves them under the policy it was started with
// (this test's own).
func TestSched(t *testing.T) {
	needBinary(t)
	p := newProc(t, "batch")
	p.start()
	for i := range 200 { // work, so the runtime starts its threads
		do(t, "PUT", p.url()+"/kv/sched/k"+strconv.Itoa(i), "v", nil)
	}
	// The node starts under this test's policy: SCHED_OTHER moves to
	// SCHED_BATCH, any other (chrt -i, say) stays.
	own := threadPolicies(t, os.Getpid())
	if len(own) != 1 {
		t.Fatalf("this test's threads are under several policies: %v", own)
	}
	start := firstKey(own)
	want := start
	if start == 0 {
		want = 3
	}
	if got := threadPolicies(t, pidOf(p)); len(got) != 1 || got[want] == 0 {
		t.Errorf("default: thread policies %v, want every thread under %d (started under %d)", got, want, start)
	}

	q := newProc(t, "inherit")
	q.start("--sched", "inherit")
	do(t, "PUT", q.url()+"/kv/sched/k", "v", nil)
	if got := threadPolicies(t, pidOf(q)); len(got) != 1 || got[start] == 0 {
		t.Errorf("--sched inherit: thread policies %v, want all under this test's %d", got, start)
	}
}

func firstKey(m map[int]int) int {
	for k := range m {
		return k
	}
	return -1
}
