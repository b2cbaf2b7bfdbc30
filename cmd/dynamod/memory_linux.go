package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// cgroupLimits are the files that hold a container's memory limit:
// cgroup v2, then v1.
var cgroupLimits = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// physicalMemory returns the memory this process may use in bytes: the
// machine's RAM, or the container's memory limit when one is lower (a
// block cache sized from the host's RAM would overrun a container's
// limit); 0 if unknown.
func physicalMemory() uint64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	ram := uint64(si.Totalram) * uint64(si.Unit)
	for _, f := range cgroupLimits {
		if b, err := os.ReadFile(f); err == nil {
			ram = lowerLimit(ram, string(b))
		}
	}
	return ram
}

// lowerLimit returns the lower of ram and a cgroup limit file's content
// ("max" or a byte count; anything else is ignored).
func lowerLimit(ram uint64, limit string) uint64 {
	n, err := strconv.ParseUint(strings.TrimSpace(limit), 10, 64)
	if err != nil || n == 0 {
		return ram
	}
	return min(ram, n)
}
