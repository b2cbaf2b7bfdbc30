package clustertest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

// JoinWebhook is a conflict-resolution webhook for tests: it answers with
// the siblings' values sorted and joined by sep, as text/plain.
func JoinWebhook(sep string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Siblings []struct {
				Value []byte `json:"value"`
			} `json:"siblings"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		parts := make([]string, 0, len(in.Siblings))
		for _, s := range in.Siblings {
			parts = append(parts, string(s.Value))
		}
		sort.Strings(parts)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"value": base64.StdEncoding.EncodeToString([]byte(strings.Join(parts, sep))), "content_type": "text/plain"})
	})
}
