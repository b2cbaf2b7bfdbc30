//go:build !linux

package sched

import "errors"

// Move is Linux only.
func Move(from, to Policy) (int, error) { return 0, errors.ErrUnsupported }

// Of is Linux only.
func Of(tid int) (Policy, error) { return 0, errors.ErrUnsupported }

// Threads is Linux only.
func Threads(pid int) ([]int, error) { return nil, errors.ErrUnsupported }
