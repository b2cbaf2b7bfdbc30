package sched

import "strconv"

// Policy is a Linux scheduling policy (sched(7)).
type Policy int

// The policies dynamod names. The values are the kernel's.
const (
	Other Policy = 0 // SCHED_OTHER (SCHED_NORMAL), the default
	Batch Policy = 3 // SCHED_BATCH
	Idle  Policy = 5 // SCHED_IDLE
)

func (p Policy) String() string {
	switch p {
	case Other:
		return "SCHED_OTHER"
	case Batch:
		return "SCHED_BATCH"
	case Idle:
		return "SCHED_IDLE"
	}
	return "policy " + strconv.Itoa(int(p))
}
