package main

import (
	"io"
	"strings"
	"testing"

	"github.com/keeldb/keel/auth"
)

func TestAuthFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.authToken != "simple" || o.authTokenTTL != 300 || o.bcryptCost != 10 {
		t.Fatalf("defaults: --auth-token %q --auth-token-ttl %d --bcrypt-cost %d, want simple 300 10",
			o.authToken, o.authTokenTTL, o.bcryptCost)
	}
	tp, err := o.tokenProvider()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tp.(*auth.SimpleTokens); !ok {
		t.Fatalf("default token provider %T, want *auth.SimpleTokens", tp)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bcrypt-cost", "3"}, "--bcrypt-cost must be between 4 and 31, got 3"},
		{[]string{"--auth-token", "opaque"}, `--auth-token: unknown token type "opaque"`},
		{[]string{"--auth-token-ttl", "0"}, "--auth-token-ttl must be positive"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := parseFlags(tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	o, err = parseFlags([]string{"--auth-token", "jwt,sign-method=RS256"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.tokenProvider(); err == nil || !strings.Contains(err.Error(), "needs priv-key or pub-key") {
		t.Fatalf("jwt without keys: got %v", err)
	}
}
