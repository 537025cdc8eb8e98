package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTTokens are etcd's "jwt" tokens: signed claims username, revision (the auth revision at
// authentication) and exp. Any member holding the key verifies them, so they work on every
// member and survive restarts; a token whose revision is older than the store's gets
// ErrAuthOldRevision on its first checked request and the client re-authenticates. A member
// given only the public key verifies but cannot issue.
type JWTTokens struct {
	method jwt.SigningMethod
	sign   any // private key ([]byte for HMAC); nil when verify-only
	verify any // public key ([]byte for HMAC)
	ttl    time.Duration
	now    func() time.Time
}

var _ TokenProvider = (*JWTTokens)(nil)

// ErrVerifyOnly is returned by Assign on a member configured with only a public key.
var ErrVerifyOnly = errors.New("auth: token signing attempted with verify-only key")

// DefaultJWTTTL is etcd's default ttl option of --auth-token jwt.
const DefaultJWTTTL = 5 * time.Minute

// ParseJWTOptions builds JWT tokens from --auth-token's options after "jwt,":
// "pub-key=<file>,priv-key=<file>,sign-method=<RS256|ES256|EdDSA|HS256|...>,ttl=<duration>".
func ParseJWTOptions(opts string, now func() time.Time) (*JWTTokens, error) {
	m := map[string]string{}
	for _, kv := range strings.Split(opts, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("auth: jwt option %q is not key=value", kv)
		}
		switch k {
		case "pub-key", "priv-key", "sign-method", "ttl":
			m[k] = v
		default:
			return nil, fmt.Errorf("auth: unknown jwt option %q", k)
		}
	}
	t := &JWTTokens{ttl: DefaultJWTTTL, now: now}
	if t.now == nil {
		t.now = time.Now
	}
	if v := m["ttl"]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("auth: jwt ttl %q: want a positive duration", v)
		}
		t.ttl = d
	}
	t.method = jwt.GetSigningMethod(m["sign-method"])
	if t.method == nil {
		return nil, fmt.Errorf("auth: jwt sign-method %q is unknown", m["sign-method"])
	}
	var priv, pub []byte
	var err error
	if f := m["priv-key"]; f != "" {
		if priv, err = os.ReadFile(f); err != nil {
			return nil, fmt.Errorf("auth: jwt priv-key: %w", err)
		}
	}
	if f := m["pub-key"]; f != "" {
		if pub, err = os.ReadFile(f); err != nil {
			return nil, fmt.Errorf("auth: jwt pub-key: %w", err)
		}
	}
	if err := t.loadKeys(priv, pub); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *JWTTokens) loadKeys(priv, pub []byte) error {
	if len(priv) == 0 && len(pub) == 0 {
		return errors.New("auth: jwt needs priv-key or pub-key")
	}
	var err error
	switch t.method.(type) {
	case *jwt.SigningMethodHMAC:
		if len(priv) == 0 {
			return errors.New("auth: jwt HMAC needs priv-key (the shared secret)")
		}
		t.sign, t.verify = priv, priv
		return nil
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		if len(priv) > 0 {
			var k *rsa.PrivateKey
			if k, err = jwt.ParseRSAPrivateKeyFromPEM(priv); err == nil {
				t.sign, t.verify = k, &k.PublicKey
			}
		} else {
			t.verify, err = jwt.ParseRSAPublicKeyFromPEM(pub)
		}
	case *jwt.SigningMethodECDSA:
		if len(priv) > 0 {
			var k *ecdsa.PrivateKey
			if k, err = jwt.ParseECPrivateKeyFromPEM(priv); err == nil {
				t.sign, t.verify = k, &k.PublicKey
			}
		} else {
			t.verify, err = jwt.ParseECPublicKeyFromPEM(pub)
		}
	case *jwt.SigningMethodEd25519:
		if len(priv) > 0 {
			var k any
			if k, err = jwt.ParseEdPrivateKeyFromPEM(priv); err == nil {
				t.sign, t.verify = k, k.(ed25519.PrivateKey).Public()
			}
		} else {
			t.verify, err = jwt.ParseEdPublicKeyFromPEM(pub)
		}
	default:
		return fmt.Errorf("auth: jwt sign-method %s is not supported", t.method.Alg())
	}
	if err != nil {
		return fmt.Errorf("auth: jwt key: %w", err)
	}
	return nil
}

// Prefix is unused by JWT.
func (t *JWTTokens) Prefix() (string, error) { return "", nil }

// Assign signs a token for user at auth revision rev.
func (t *JWTTokens) Assign(user string, rev uint64, _ string, _ uint64) (string, error) {
	if t.sign == nil {
		return "", ErrVerifyOnly
	}
	tk := jwt.NewWithClaims(t.method, jwt.MapClaims{
		"username": user,
		"revision": rev,
		"exp":      t.now().Add(t.ttl).Unix(),
	})
	return tk.SignedString(t.sign)
}

// Info verifies token (signature, method and expiry) and returns its user and revision.
func (t *JWTTokens) Info(token string, _ uint64) (Info, bool) {
	parsed, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return t.verify, nil },
		jwt.WithValidMethods([]string{t.method.Alg()}), jwt.WithTimeFunc(t.now), jwt.WithExpirationRequired())
	if err != nil || !parsed.Valid {
		return Info{}, false
	}
	claims, ok := parsed.Claims.(jwt.MapClaims)
	if !ok {
		return Info{}, false
	}
	user, ok1 := claims["username"].(string)
	rev, ok2 := claims["revision"].(float64)
	if !ok1 || !ok2 || user == "" {
		return Info{}, false
	}
	return Info{User: user, Revision: uint64(rev)}, true
}

// InvalidateUser, Enable and Disable do nothing: a JWT cannot be revoked before it expires
// (deleting the user or changing the auth state makes its checks fail instead).
func (t *JWTTokens) InvalidateUser(string) {}

// Enable does nothing (see InvalidateUser).
func (t *JWTTokens) Enable() {}

// Disable does nothing (see InvalidateUser).
func (t *JWTTokens) Disable() {}
