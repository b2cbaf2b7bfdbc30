//go:build !linux

package sched

import "errors"

// Move is Linux only.
func Move(from, to Policy) (int, error) { return 0, errors.ErrUnsupported }
