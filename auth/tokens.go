package auth

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TokenProvider issues and resolves the tokens Authenticate returns. Assign runs on every
// member when an Authenticate entry applies; Info runs on the member a request arrives at.
// Implementations are safe for concurrent use.
type TokenProvider interface {
	// Prefix returns what the proposer of an Authenticate puts in the entry (a random
	// string for simple tokens; unused by JWT).
	Prefix() (string, error)
	// Assign returns the token for user, authenticated at auth revision rev by the entry at
	// raft index index that carries prefix.
	Assign(user string, rev uint64, prefix string, index uint64) (string, error)
	// Info resolves a token; rev is the store's current revision (simple tokens carry none).
	Info(token string, rev uint64) (Info, bool)
	// InvalidateUser drops the user's tokens (user deleted, password changed).
	InvalidateUser(user string)
	// Enable and Disable follow the auth enabled flag; Disable drops every token.
	Enable()
	Disable()
}

// SimpleTokens are etcd's "simple" tokens: "<16 random letters>.<raft index>", assigned on
// every member when the Authenticate entry applies and kept only in memory, each valid for
// TTL after its last use. A member restarted or restored from a snapshot has none: its
// clients get ErrInvalidAuthToken and re-authenticate (clientv3 does so by itself).
type SimpleTokens struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	enabled bool                   // guarded by mu
	tokens  map[string]simpleToken // guarded by mu
}

type simpleToken struct {
	user    string
	expires time.Time
}

var _ TokenProvider = (*SimpleTokens)(nil)

// DefaultTokenTTL is etcd's --auth-token-ttl default.
const DefaultTokenTTL = 300 * time.Second

// NewSimpleTokens returns simple tokens valid for ttl after their last use (0 means
// DefaultTokenTTL); now is the clock (nil means time.Now).
func NewSimpleTokens(ttl time.Duration, now func() time.Time) *SimpleTokens {
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	if now == nil {
		now = time.Now
	}
	return &SimpleTokens{ttl: ttl, now: now, tokens: map[string]simpleToken{}}
}

const simpleTokenLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// Prefix returns 16 random letters.
func (t *SimpleTokens) Prefix() (string, error) {
	var b strings.Builder
	for range 16 {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(simpleTokenLetters))))
		if err != nil {
			return "", fmt.Errorf("auth: token prefix: %w", err)
		}
		b.WriteByte(simpleTokenLetters[i.Int64()])
	}
	return b.String(), nil
}

// Assign records "<prefix>.<index>" for user.
func (t *SimpleTokens) Assign(user string, _ uint64, prefix string, index uint64) (string, error) {
	token := prefix + "." + strconv.FormatUint(index, 10)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.enabled {
		return token, nil
	}
	if len(t.tokens)%1024 == 1023 {
		for k, v := range t.tokens {
			if !now.Before(v.expires) {
				delete(t.tokens, k)
			}
		}
	}
	t.tokens[token] = simpleToken{user: user, expires: now.Add(t.ttl)}
	return token, nil
}

// Info resolves token and extends its life by the TTL.
func (t *SimpleTokens) Info(token string, rev uint64) (Info, bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.tokens[token]
	if !ok {
		return Info{}, false
	}
	if !now.Before(e.expires) {
		delete(t.tokens, token)
		return Info{}, false
	}
	e.expires = now.Add(t.ttl)
	t.tokens[token] = e
	return Info{User: e.user, Revision: rev}, true
}

// InvalidateUser drops every token of user.
func (t *SimpleTokens) InvalidateUser(user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range t.tokens {
		if v.user == user {
			delete(t.tokens, k)
		}
	}
}

// Enable starts recording tokens.
func (t *SimpleTokens) Enable() {
	t.mu.Lock()
	t.enabled = true
	t.mu.Unlock()
}

// Disable drops every token.
func (t *SimpleTokens) Disable() {
	t.mu.Lock()
	t.enabled = false
	t.tokens = map[string]simpleToken{}
	t.mu.Unlock()
}

// TokenIndex returns the raft index a simple token was assigned at (0 if token is not one),
// so a member that has not yet applied it can wait before calling it invalid.
func TokenIndex(token string) uint64 {
	_, idx, ok := strings.Cut(token, ".")
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(idx, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
