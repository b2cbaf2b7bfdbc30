package gossip

import (
	"strings"
	"testing"
	"time"
)

func TestConfig_validate(t *testing.T) {
	ok := DefaultConfig()
	ok.Name = "n1"
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cases := []struct {
		name  string
		edit  func(*Config)
		field string // must be named in the error
	}{
		{"no name", func(c *Config) { c.Name = "" }, "Name"},
		{"bad utf8 name", func(c *Config) { c.Name = "\xff" }, "Name"},
		{"bind hostname", func(c *Config) { c.BindAddr = "localhost:7946" }, "BindAddr"},
		{"bind port 0", func(c *Config) { c.BindAddr = "127.0.0.1:0" }, "BindAddr"},
		{"bind no port", func(c *Config) { c.BindAddr = "127.0.0.1" }, "BindAddr"},
		{"advertise no port", func(c *Config) { c.AdvertiseAddr = "host" }, "AdvertiseAddr"},
		{"join", func(c *Config) { c.Join = []string{"a:1", "b"} }, "Join[1]"},
		{"key", func(c *Config) { c.SecretKey = make([]byte, 10) }, "SecretKey"},
		{"rpc", func(c *Config) { c.RPCAddr = ":1" }, "RPCAddr"},
		{"http", func(c *Config) { c.HTTPAddr = "h:99999" }, "HTTPAddr"},
		{"rejoin", func(c *Config) { c.RejoinInterval = 0 }, "RejoinInterval"},
		{"reclaim", func(c *Config) { c.DeadNodeReclaimTime = -time.Second }, "DeadNodeReclaimTime"},
		{"profile", func(c *Config) { c.Profile = "wan" }, "Profile"},
	}
	all := ok
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Validate = %v, want an error naming %s", err, tc.field)
			}
		})
		tc.edit(&all)
	}
	// Every bad field is reported, not just the first.
	err := all.Validate()
	for _, f := range []string{"Name", "BindAddr", "SecretKey", "RejoinInterval", "Profile"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("combined Validate = %v, missing %s", err, f)
		}
	}
}

func TestConfig_profiles(t *testing.T) {
	c := DefaultConfig()
	c.Name = "n"
	lan := c.memberlistConfig()
	c.Profile = ProfileLocal
	local := c.memberlistConfig()
	if lan.ProbeTimeout <= local.ProbeTimeout || lan.DeadNodeReclaimTime != 30*time.Second {
		t.Errorf("lan %v/%v, local %v", lan.ProbeTimeout, lan.DeadNodeReclaimTime, local.ProbeTimeout)
	}
}
