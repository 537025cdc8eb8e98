package registry

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"sigs.k8s.io/yaml"

	"github.com/keeldb/keel/orchestrator/api"
)

// Transformer turns an object's encoded value into what is stored under its key and back
// (Kubernetes' value.Transformer): encryption at rest. The key is the value's store key,
// authenticated along with the value so that a ciphertext cannot be moved to another key.
// Implementations are safe for concurrent use.
type Transformer interface {
	// TransformToStorage returns the stored form of plain.
	TransformToStorage(plain []byte, key string) ([]byte, error)
	// TransformFromStorage returns the plain form of stored, or an error when no provider
	// can read it (a wrong or missing key).
	TransformFromStorage(stored []byte, key string) ([]byte, error)
}

// ErrDecrypt is returned (wrapped) when a stored value cannot be decrypted.
var ErrDecrypt = errors.New("registry: cannot decrypt stored value")

// EncryptionConfiguration is Kubernetes' apiserver.config.k8s.io/v1 EncryptionConfiguration.
type EncryptionConfiguration struct {
	APIVersion string                   `json:"apiVersion"`
	Kind       string                   `json:"kind"`
	Resources  []EncryptionResourceSpec `json:"resources"`
}

// EncryptionResourceSpec lists resources and the providers that transform them; the first
// provider writes, every provider reads (key rotation).
type EncryptionResourceSpec struct {
	Resources []string             `json:"resources"`
	Providers []EncryptionProvider `json:"providers"`
}

// EncryptionProvider is one provider; exactly one member is set.
type EncryptionProvider struct {
	AESGCM   *EncryptionKeys `json:"aesgcm,omitempty"`
	AESCBC   *EncryptionKeys `json:"aescbc,omitempty"`
	Identity *struct{}       `json:"identity,omitempty"`
}

// EncryptionKeys are a provider's named keys; the first encrypts.
type EncryptionKeys struct {
	Keys []EncryptionKey `json:"keys"`
}

// EncryptionKey is a named AES key, base64 (16, 24 or 32 bytes).
type EncryptionKey struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// ParseEncryptionConfig parses an EncryptionConfiguration (YAML or JSON) and returns a
// Transformer per resource name ("secrets"), for Config.Transformers. Unknown fields and
// providers Keel does not have (kms, secretbox) are refused.
func ParseEncryptionConfig(data []byte) (map[string]Transformer, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("registry: encryption config: %w", err)
	}
	var cfg EncryptionConfiguration
	if err := api.DecodeStrict(js, &cfg); err != nil {
		return nil, fmt.Errorf("registry: encryption config: %w", err)
	}
	if cfg.APIVersion != "apiserver.config.k8s.io/v1" || cfg.Kind != "EncryptionConfiguration" {
		return nil, fmt.Errorf("registry: encryption config: want apiVersion apiserver.config.k8s.io/v1, kind EncryptionConfiguration, got %q, %q", cfg.APIVersion, cfg.Kind)
	}
	out := map[string]Transformer{}
	for i, rs := range cfg.Resources {
		t, err := newPrefixTransformer(rs.Providers)
		if err != nil {
			return nil, fmt.Errorf("registry: encryption config: resources[%d]: %w", i, err)
		}
		for _, r := range rs.Resources {
			name, _, _ := strings.Cut(r, ".") // "secrets" or "secrets." (core group)
			if _, dup := out[name]; dup {
				return nil, fmt.Errorf("registry: encryption config: resources[%d]: %q listed twice", i, r)
			}
			out[name] = t
		}
	}
	return out, nil
}

// prefixTransformer writes with its first provider and reads with the one whose prefix the
// stored value carries (identity's is empty, so it reads anything unprefixed).
type prefixTransformer struct {
	providers []provider
}

type provider struct {
	prefix []byte // "k8s:enc:aesgcm:v1:NAME:"; empty for identity
	aead   cipher.AEAD
	cbc    cipher.Block
}

func newPrefixTransformer(ps []EncryptionProvider) (*prefixTransformer, error) {
	if len(ps) == 0 {
		return nil, errors.New("providers: at least one provider is required")
	}
	t := &prefixTransformer{}
	for i, p := range ps {
		n := 0
		if p.Identity != nil {
			n++
			t.providers = append(t.providers, provider{})
		}
		for _, k := range []struct {
			name string
			keys *EncryptionKeys
		}{{"aesgcm", p.AESGCM}, {"aescbc", p.AESCBC}} {
			if k.keys == nil {
				continue
			}
			n++
			if len(k.keys.Keys) == 0 {
				return nil, fmt.Errorf("providers[%d].%s.keys: at least one key is required", i, k.name)
			}
			for j, key := range k.keys.Keys {
				pr, err := newAESProvider(k.name, key)
				if err != nil {
					return nil, fmt.Errorf("providers[%d].%s.keys[%d]: %w", i, k.name, j, err)
				}
				t.providers = append(t.providers, pr)
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("providers[%d]: exactly one of aesgcm, aescbc or identity is required", i)
		}
	}
	return t, nil
}

func newAESProvider(kind string, k EncryptionKey) (provider, error) {
	if k.Name == "" || strings.Contains(k.Name, ":") {
		return provider{}, fmt.Errorf("name %q: must be non-empty and without ':'", k.Name)
	}
	raw, err := base64.StdEncoding.DecodeString(k.Secret)
	if err != nil {
		return provider{}, fmt.Errorf("secret of %q: not base64: %w", k.Name, err)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return provider{}, fmt.Errorf("secret of %q: must be 16, 24 or 32 bytes: %w", k.Name, err)
	}
	p := provider{prefix: []byte("k8s:enc:" + kind + ":v1:" + k.Name + ":")}
	if kind == "aescbc" {
		p.cbc = block
		return p, nil
	}
	p.aead, err = cipher.NewGCM(block)
	return p, err
}

// TransformToStorage encrypts with the first provider.
func (t *prefixTransformer) TransformToStorage(plain []byte, key string) ([]byte, error) {
	p := t.providers[0]
	switch {
	case p.aead != nil:
		nonce := make([]byte, p.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		out := append(append([]byte(nil), p.prefix...), nonce...)
		return p.aead.Seal(out, nonce, plain, []byte(key)), nil
	case p.cbc != nil:
		bs := p.cbc.BlockSize()
		pad := bs - len(plain)%bs
		buf := append(append([]byte(nil), plain...), bytes.Repeat([]byte{byte(pad)}, pad)...)
		iv := make([]byte, bs)
		if _, err := rand.Read(iv); err != nil {
			return nil, err
		}
		cipher.NewCBCEncrypter(p.cbc, iv).CryptBlocks(buf, buf)
		return append(append(append([]byte(nil), p.prefix...), iv...), buf...), nil
	}
	return plain, nil
}

// TransformFromStorage decrypts with the provider whose prefix stored carries.
func (t *prefixTransformer) TransformFromStorage(stored []byte, key string) ([]byte, error) {
	for _, p := range t.providers {
		if !bytes.HasPrefix(stored, p.prefix) {
			continue
		}
		if len(p.prefix) == 0 {
			if bytes.HasPrefix(stored, []byte("k8s:enc:")) {
				continue // encrypted by a provider this config lacks
			}
			return stored, nil
		}
		body := stored[len(p.prefix):]
		switch {
		case p.aead != nil:
			ns := p.aead.NonceSize()
			if len(body) < ns {
				return nil, fmt.Errorf("%w: %s: too short", ErrDecrypt, key)
			}
			out, err := p.aead.Open(nil, body[:ns], body[ns:], []byte(key))
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrDecrypt, key, err)
			}
			return out, nil
		case p.cbc != nil:
			bs := p.cbc.BlockSize()
			if len(body) < 2*bs || len(body)%bs != 0 {
				return nil, fmt.Errorf("%w: %s: bad length", ErrDecrypt, key)
			}
			buf := append([]byte(nil), body[bs:]...)
			cipher.NewCBCDecrypter(p.cbc, body[:bs]).CryptBlocks(buf, buf)
			pad := int(buf[len(buf)-1])
			if pad == 0 || pad > bs || !bytes.Equal(buf[len(buf)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
				return nil, fmt.Errorf("%w: %s: bad padding", ErrDecrypt, key)
			}
			return buf[:len(buf)-pad], nil
		}
	}
	return nil, fmt.Errorf("%w: %s: no provider of the encryption config matches its prefix", ErrDecrypt, key)
}

// encPrefix starts every value an encrypting provider wrote.
var encPrefix = []byte("k8s:enc:")

// encryptedError is what a Store without a transformer says of an encrypted value.
func encryptedError(kv *mvccpb.KeyValue) error {
	v := kv.Value
	end := bytes.IndexByte(v[len(encPrefix):], ':')
	if end >= 0 {
		if e2 := bytes.IndexByte(v[len(encPrefix)+end+1:], ':'); e2 >= 0 {
			end += e2 + 1
			if e3 := bytes.IndexByte(v[len(encPrefix)+end+1:], ':'); e3 >= 0 {
				end += e3 + 1
			}
		}
	}
	what := "encrypted"
	if end >= 0 {
		what = string(v[:len(encPrefix)+end])
	}
	return fmt.Errorf("%w: %s is encrypted (%s): give this component the --encryption-provider-config holding its key", ErrDecrypt, kv.Key, what)
}
