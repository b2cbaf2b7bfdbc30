package main

import "testing"

func TestLowerLimit(t *testing.T) {
	const ram = 24 << 30
	for _, c := range []struct {
		limit string
		want  uint64
	}{
		{"max\n", ram}, {"536870912\n", 512 << 20}, {"9223372036854771712", ram}, {"", ram}, {"0", ram}, {"junk", ram},
	} {
		if got := lowerLimit(ram, c.limit); got != c.want {
			t.Errorf("limit %q: %d, want %d", c.limit, got, c.want)
		}
	}
	if physicalMemory() == 0 {
		t.Error("no memory size on linux")
	}
}
