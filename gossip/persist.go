package gossip

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// loadState reads the cluster state persisted at path. A missing file is an
// empty state; a file that fails to decode is ErrCorruptState. The file
// must have been written by the node called name.
func loadState(path, name string) (*clusterState, error) {
	s := newClusterState()
	if path == "" {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gossip: load state %s: %w", path, err)
	}
	w, err := decodeState(b)
	if err != nil {
		return nil, fmt.Errorf("gossip: load state %s: %w: %w", path, ErrCorruptState, err)
	}
	if w.From != name {
		return nil, fmt.Errorf("gossip: load state %s: written by node %q, this node is %q", path, w.From, name)
	}
	s.merge(w)
	return s, nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new content: write path+".tmp", fsync it, rename it over path,
// fsync the directory.
func writeFileAtomic(path string, data []byte) (err error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// PersistedStatus returns what the state file at path says of member
// name's status; found is false when the file or the entry does not exist.
// The node checks it before it starts: a node that left or was removed
// holds data that is out of date.
func PersistedStatus(path, name string) (s Status, found bool, err error) {
	st, err := loadState(path, name)
	if err != nil {
		return 0, false, err
	}
	e, ok := st.members[name]
	return e.Status, ok, nil
}
