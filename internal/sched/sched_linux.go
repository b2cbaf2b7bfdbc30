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

// maxPasses bounds Move's listings of the threads: the Go runtime starts
// threads while Move runs, but only from threads already listed, so each
// pass finds fewer new ones.
const maxPasses = 20

// Move moves every thread of this process that runs under from to to, and
// returns how many it moved. It lists the threads again until a pass finds
// none left under from. A thread that exits meanwhile is skipped.
func Move(from, to Policy) (int, error) {
	moved := 0
	for range maxPasses {
		tids, err := Threads(os.Getpid())
		if err != nil {
			return moved, err
		}
		n := 0
		for _, tid := range tids {
			p, err := Of(tid)
			if errors.Is(err, syscall.ESRCH) {
				continue
			}
			if err != nil {
				return moved, err
			}
			if p != from {
				continue
			}
			if err := set(tid, to); err != nil && !errors.Is(err, syscall.ESRCH) {
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

// Of returns the policy of thread tid, of any process.
func Of(tid int) (Policy, error) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETSCHEDULER, uintptr(tid), 0, 0)
	if errno != 0 {
		return 0, fmt.Errorf("sched: policy of thread %d: %w", tid, errno)
	}
	return Policy(int(r) &^ resetOnFork), nil
}

// set gives thread tid policy p with static priority 0 (the only one the
// fair policies take); the kernel keeps its nice value.
func set(tid int, p Policy) error {
	var param struct{ priority int32 }
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, uintptr(tid), uintptr(p), uintptr(unsafe.Pointer(&param)))
	if errno != 0 {
		return errno
	}
	return nil
}

// Threads lists the thread ids of process pid (/proc/PID/task).
func Threads(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return nil, fmt.Errorf("sched: threads of %d: %w", pid, err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
