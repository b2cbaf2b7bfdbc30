// Package sched sets the Linux CPU scheduling policy of this process's
// threads.
//
// dynamod serve moves its threads from SCHED_OTHER to SCHED_BATCH (the
// --sched flag; docs/design.md, "CPU scheduling"). The kernel then lets
// a woken dynamod thread wait for the running task's turn to end instead
// of preempting it, and a node's goroutine hand-offs (a frame read, a
// reply, a group commit) stop costing a context switch each. That is
// SCHED_BATCH's documented purpose: "workloads that want a deterministic
// scheduling policy without interactivity causing extra preemptions
// (between the workload's tasks)" (sched(7)). The nice value stays. The
// cost: a woken thread does not preempt other processes' threads either,
// so on a host busy with other work it may wait out their time slices
// (--sched inherit avoids that).
//
// A thread starts under the policy of the thread that created it, so once
// every thread of the process is moved, the threads the Go runtime starts
// later are under the new policy too. Only threads under the policy asked
// to move are touched: a policy an operator gave the process (chrt,
// systemd's CPUSchedulingPolicy) is kept, and so is a thread's
// reset-on-fork flag.
//
// It is an adapter over two system calls and /proc; on other systems
// [Move] reports errors.ErrUnsupported.
package sched
