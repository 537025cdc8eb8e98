package api_test

import (
	"bytes"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

// FuzzDecodeManifests checks that arbitrary input is either decoded or refused with an
// error, never a panic, and that accepted objects validate.
func FuzzDecodeManifests(f *testing.F) {
	f.Add([]byte(webManifest))
	f.Add([]byte(setsManifest))
	f.Add([]byte(batchManifest))
	f.Add([]byte(configManifest))
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"},"status":{"capacity":{"cpu":4}}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		objs, err := api.DecodeManifests(bytes.NewReader(in))
		if err != nil {
			return
		}
		for _, o := range objs {
			if errs := api.Validate(o); len(errs) > 0 {
				t.Fatalf("decoded object does not validate: %v", errs)
			}
		}
	})
}
