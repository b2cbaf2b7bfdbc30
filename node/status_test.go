package node

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/dynamod/dynamod/antientropy"
	"github.com/dynamod/dynamod/client"
	"github.com/dynamod/dynamod/storage"
	"github.com/dynamod/dynamod/transfer"
)

// fill sets every field of v, recursively, to a value that is not zero,
// so that no field hides behind omitempty.
func fill(t *testing.T, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i))
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(t, v.Index(0))
	case reflect.String:
		v.SetString("s")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint64:
		v.SetUint(9)
	default:
		t.Fatalf("fill: %s has a field of kind %s; teach fill about it", v.Type(), v.Kind())
	}
}

// sameJSON wants a and b to encode to the same JSON document.
func sameJSON(t *testing.T, what string, a, b any) {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var ma, mb any
	if err := json.Unmarshal(ja, &ma); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(jb, &mb); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ma, mb) {
		t.Fatalf("%s: the server's type and the client's differ:\nserver %s\nclient %s", what, ja, jb)
	}
}

// TestStatusTypesMatch: the parts of /cluster that node copies from other
// packages' types (anti-entropy's status, transfer progress, storage
// health, members)
// encode exactly as those types do, every field set, so a field added on
// one side and not on the other fails here.
func TestStatusTypesMatch(t *testing.T) {
	var ae antientropy.Status
	fill(t, reflect.ValueOf(&ae).Elem())
	sameJSON(t, "anti-entropy status", ae, antiEntropyStatus(ae))

	var p transfer.Progress
	fill(t, reflect.ValueOf(&p).Elem())
	sameJSON(t, "transfer progress", p, client.Transfer(p))

	var h storage.Health
	fill(t, reflect.ValueOf(&h).Elem())
	sameJSON(t, "storage health", h, client.StorageHealth(h))

	var m MemberInfo
	fill(t, reflect.ValueOf(&m).Elem())
	sameJSON(t, "member", struct {
		MemberInfo
		Primaries int `json:"primary_partitions"`
	}{m, 7}, clusterMember(m, 7))
}
