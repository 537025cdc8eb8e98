package apiserver

import (
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/keeldb/keel/orchestrator/authz"
)

// TokenFile holds the users of a kube-apiserver --token-auth-file: CSV lines
// token,user,uid[,"group1,group2"].
type TokenFile map[string]authz.UserInfo

// LoadTokenFile reads a token file.
func LoadTokenFile(path string) (TokenFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.Comment = '#'
	out := TokenFile{}
	for line := 1; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(rec) < 3 || rec[0] == "" || rec[1] == "" {
			return nil, fmt.Errorf("%s: line %d: want token,user,uid[,groups]", path, line)
		}
		u := authz.UserInfo{Name: rec[1], UID: rec[2]}
		if len(rec) > 3 && rec[3] != "" {
			for _, g := range strings.Split(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		out[rec[0]] = u
	}
}

// authenticate returns the request's user: the verified client certificate's CN and O, or
// the bearer token's file entry; ok is false when neither identifies it. A bearer token
// that is not in the file is refused (401) even when a certificate would do, as Kubernetes.
func (s *Server) authenticate(r *http.Request) (u authz.UserInfo, ok bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, found := strings.CutPrefix(h, "Bearer ")
		if !found {
			return u, false
		}
		u, ok = s.cfg.Tokens[strings.TrimSpace(tok)]
		if !ok {
			return u, false
		}
	} else if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		c := r.TLS.VerifiedChains[0][0]
		u = authz.UserInfo{Name: c.Subject.CommonName, Groups: append([]string(nil), c.Subject.Organization...)}
		if u.Name == "" {
			return u, false
		}
	} else if s.cfg.AnonymousAuth {
		return authz.UserInfo{Name: authz.Anonymous, Groups: []string{authz.AllUnauthenticated}}, true
	} else {
		return u, false
	}
	u.Groups = append(u.Groups, authz.AllAuthenticated)
	return u, true
}
