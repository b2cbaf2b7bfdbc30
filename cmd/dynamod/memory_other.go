//go:build !linux

package main

// physicalMemory returns the machine's RAM in bytes, or 0 if unknown.
func physicalMemory() uint64 { return 0 }
