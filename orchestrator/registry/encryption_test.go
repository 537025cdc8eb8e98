package registry_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

func encConfig(providers string) []byte {
	return []byte("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n" + providers)
}

func key(name string, b byte) string {
	return "      - name: " + name + "\n        secret: " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) + "\n"
}

func TestEncryptionConfig(t *testing.T) {
	gcm1 := "  - aesgcm:\n      keys:\n" + key("k1", 1)
	cbc2 := "  - aescbc:\n      keys:\n" + key("k2", 2)
	identity := "  - identity: {}\n"
	plain := []byte(`{"data":{"password":"aHVudGVyMg=="}}`)
	const k = "/registry/secrets/default/s"
	for _, tc := range []struct {
		name, write, read, prefix string
		readErr                   bool
	}{
		{name: "aesgcm", write: gcm1, read: gcm1, prefix: "k8s:enc:aesgcm:v1:k1:"},
		{name: "aescbc", write: cbc2, read: cbc2, prefix: "k8s:enc:aescbc:v1:k2:"},
		{name: "rotation: old key still reads", write: gcm1, read: cbc2 + gcm1, prefix: "k8s:enc:aesgcm:v1:k1:"},
		{name: "identity writes plaintext, aesgcm config reads it", write: identity, read: gcm1 + identity},
		{name: "key removed", write: gcm1, read: cbc2 + identity, prefix: "k8s:enc:aesgcm:v1:k1:", readErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := registry.ParseEncryptionConfig(encConfig(tc.write))
			if err != nil {
				t.Fatal(err)
			}
			r, err := registry.ParseEncryptionConfig(encConfig(tc.read))
			if err != nil {
				t.Fatal(err)
			}
			stored, err := w["secrets"].TransformToStorage(plain, k)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(stored, []byte(tc.prefix)) {
				t.Fatalf("stored %q, want prefix %q", stored, tc.prefix)
			}
			if tc.prefix != "" && bytes.Contains(stored, []byte("aHVudGVyMg")) {
				t.Fatalf("stored value holds the plaintext: %q", stored)
			}
			got, err := r["secrets"].TransformFromStorage(stored, k)
			if tc.readErr {
				if !errors.Is(err, registry.ErrDecrypt) {
					t.Fatalf("read: got %v, want ErrDecrypt", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("read: got %q, %v, want %q", got, err, plain)
			}
			if tc.prefix != "" {
				if _, err := r["secrets"].TransformFromStorage(stored, k+"-other"); !errors.Is(err, registry.ErrDecrypt) && tc.name != "aescbc" {
					t.Fatalf("moved to another key: got %v, want ErrDecrypt", err)
				}
			}
		})
	}
}

func TestEncryptionConfigInvalid(t *testing.T) {
	for _, tc := range []struct{ name, cfg, want string }{
		{"short key", "  - aesgcm:\n      keys:\n      - name: k\n        secret: " + base64.StdEncoding.EncodeToString([]byte("short")) + "\n", "must be 16, 24 or 32 bytes"},
		{"two kinds in one provider", "  - aesgcm:\n      keys:\n" + key("k", 1) + "    identity: {}\n", "exactly one of"},
		{"unknown provider", "  - kms: {}\n", "providers[0].kms"},
		{"no providers", "", "at least one provider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := registry.ParseEncryptionConfig(encConfig(tc.cfg))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestEncryptedSecrets stores Secrets through a Store with an aesgcm transformer: the key
// holds ciphertext, the Store reads and lists plaintext, a Store without the key cannot
// read it, and an immutable Secret refuses a change of its data.
func TestEncryptedSecrets(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	trs, err := registry.ParseEncryptionConfig(encConfig("  - aesgcm:\n      keys:\n" + key("k1", 9) + "  - identity: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := registry.New[api.Secret](cli, registry.Config{Transformers: trs})
	yes := true
	in := &api.Secret{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "s"}, Immutable: &yes,
		StringData: map[string]string{"password": "hunter2"}}
	if _, err := secrets.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	raw, err := cli.Get(ctx, "/registry/secrets/default/s")
	if err != nil || len(raw.Kvs) != 1 {
		t.Fatalf("raw get: %v, %v", raw, err)
	}
	if v := raw.Kvs[0].Value; !bytes.HasPrefix(v, []byte("k8s:enc:aesgcm:v1:k1:")) || bytes.Contains(v, []byte("aHVudGVyMg")) {
		t.Fatalf("stored %q, want ciphertext", v)
	}
	got, err := secrets.Get(ctx, "default", "s")
	if err != nil || string(got.Data["password"]) != "hunter2" || got.Type != api.SecretTypeOpaque {
		t.Fatalf("Get: got %+v, %v", got, err)
	}
	l, err := secrets.List(ctx, registry.ListOptions{Namespace: "default"})
	if err != nil || len(l.Items) != 1 || string(l.Items[0].Data["password"]) != "hunter2" {
		t.Fatalf("List: got %+v, %v", l, err)
	}
	if _, err := registry.New[api.Secret](cli, registry.Config{}).Get(ctx, "default", "s"); err == nil {
		t.Fatal("a Store without the key read the Secret")
	}
	got.Data["password"] = []byte("changed")
	_, err = secrets.Update(ctx, got)
	if !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "data: Forbidden: field is immutable when `immutable` is set") {
		t.Fatalf("Update of an immutable Secret: got %v", err)
	}
	got.Data["password"] = []byte("hunter2")
	got.Labels = map[string]string{"rotated": "no"}
	if _, err := secrets.Update(ctx, got); err != nil {
		t.Fatalf("a metadata change of an immutable Secret: %v", err)
	}
}
