package sched

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// resetOnFork is the flag sched_getscheduler(2) may add to a policy.
const resetOnFork = 0x40000000

// maxPasses bounds Move's listings of the threads. The Go runtime may
// start threads while Move runs; a pass that moves none proves every
// thread is under another policy than from, and so are the threads they
// start.
const maxPasses = 20

// Move moves every thread of this process that runs under from to to, and
// returns how many it moved. It lists the threads again until a pass finds
// none left under from. A thread that exits meanwhile is skipped. A
// thread's reset-on-fork flag (chrt -R) is kept. On an error the threads
// moved so far stay moved.
func Move(from, to Policy) (int, error) {
	moved := 0
	for range maxPasses {
		tids, err := taskIDs("/proc/self/task")
		if err != nil {
			return moved, err
		}
		n := 0
		for _, tid := range tids {
			raw, err := get(tid)
			if errors.Is(err, syscall.ESRCH) {
				continue
			}
			if err != nil {
				return moved, fmt.Errorf("sched: policy of thread %d: %w", tid, err)
			}
			if Policy(raw&^resetOnFork) != from {
				continue
			}
			err = set(tid, int(to)|raw&resetOnFork)
			if errors.Is(err, syscall.ESRCH) {
				continue
			}
			if err != nil {
				return moved, fmt.Errorf("sched: thread %d to %v: %w", tid, to, err)
			}
			n++
		}
		moved += n
		if n == 0 {
			return moved, nil
		}
	}
	return moved, fmt.Errorf("sched: threads still under %v after %d passes", from, maxPasses)
}

// of returns the policy of thread tid, of any process.
func of(tid int) (Policy, error) {
	raw, err := get(tid)
	if err != nil {
		return 0, fmt.Errorf("sched: policy of thread %d: %w", tid, err)
	}
	return Policy(raw &^ resetOnFork), nil
}

// get returns thread tid's policy as sched_getscheduler(2) gives it, with
// the reset-on-fork flag.
func get(tid int) (int, error) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETSCHEDULER, uintptr(tid), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// set gives thread tid policy (a policy, possibly with the reset-on-fork
// flag) with static priority 0, the only one the fair policies take; the
// kernel keeps the thread's nice value.
func set(tid, policy int) error {
	var param struct{ priority int32 }
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, uintptr(tid), uintptr(policy), uintptr(unsafe.Pointer(&param)))
	if errno != 0 {
		return errno
	}
	return nil
}

// taskIDs lists the thread ids in dir (/proc/self/task).
func taskIDs(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sched: threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
