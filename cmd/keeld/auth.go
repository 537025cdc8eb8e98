package main

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/keeldb/keel/auth"
)

// tokenProvider builds the member's token provider from --auth-token and --auth-token-ttl.
func (o *options) tokenProvider() (auth.TokenProvider, error) {
	kind, rest, _ := strings.Cut(o.authToken, ",")
	switch kind {
	case "simple":
		return auth.NewSimpleTokens(time.Duration(o.authTokenTTL)*time.Second, nil), nil
	case "jwt":
		t, err := auth.ParseJWTOptions(rest, nil)
		if err != nil {
			return nil, fmt.Errorf("--auth-token: %w", err)
		}
		return t, nil
	default:
		return nil, fmt.Errorf("--auth-token: unknown token type %q (want simple or jwt)", kind)
	}
}

// validateAuth reports the problems of the auth flags.
func (o *options) validateAuth() []error {
	var errs []error
	if int(o.bcryptCost) < bcrypt.MinCost || int(o.bcryptCost) > bcrypt.MaxCost {
		errs = append(errs, fmt.Errorf("--bcrypt-cost must be between %d and %d, got %d", bcrypt.MinCost, bcrypt.MaxCost, o.bcryptCost))
	}
	if o.authTokenTTL == 0 {
		errs = append(errs, fmt.Errorf("--auth-token-ttl must be positive"))
	}
	if kind, _, _ := strings.Cut(o.authToken, ","); kind != "simple" && kind != "jwt" {
		errs = append(errs, fmt.Errorf("--auth-token: unknown token type %q (want simple or jwt)", kind))
	}
	return errs
}
