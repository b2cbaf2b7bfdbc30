package main

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dynamod/dynamod/gossip"
)

// keyringFile is the gossip keyring's file in the data directory: the keys
// in use, primary first, rewritten at each change (dynamod gossip-key). At
// start it wins over --gossip-key and --gossip-key-file, so that a
// rotation survives restarts with the flags the node was first given.
const keyringFile = "gossip-keyring"

func keyringPath(data string) string { return filepath.Join(data, keyringFile) }

// gossipKeys returns the keys of --gossip-key-file and --gossip-key
// (primary first: the flag's key, then the file's), nil for none. A key
// given on the command line is warned about: it shows in the process list.
func gossipKeys(f serveFlags, log *slog.Logger) ([][]byte, error) {
	var keys [][]byte
	if f.gossipKey != "" {
		k, err := gossip.DecodeKey(f.gossipKey)
		if err != nil {
			return nil, usagef("--gossip-key: %v", err)
		}
		keys = append(keys, k)
		if os.Getenv("DYNAMOD_GOSSIP_KEY") != f.gossipKey {
			log.Warn("--gossip-key shows in the process list to every local user; use --gossip-key-file (e.g. from dynamod certs gossip-key)")
		}
	}
	if f.gossipKeyFile != "" {
		fileKeys, err := gossip.ReadKeyFile(f.gossipKeyFile)
		if err != nil {
			if errors.Is(err, gossip.ErrBadKey) {
				return nil, usagef("--gossip-key-file: %v", err)
			}
			return nil, err
		}
		keys = append(keys, fileKeys...)
	}
	return keys, nil
}

// gossipKeyConfigured reports whether this node's gossip will be
// encrypted: a key flag is given, or a keyring is persisted in the data
// directory (which then wins, see keyringFile).
func gossipKeyConfigured(f serveFlags) bool {
	if f.gossipKey != "" || f.gossipKeyFile != "" {
		return true
	}
	_, err := os.Stat(keyringPath(f.data))
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}
