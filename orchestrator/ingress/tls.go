package ingress

import (
	"crypto/tls"
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
)

// Certificates maps TLS server names to the certificates of the served Ingresses.
type Certificates struct {
	byHost map[string]*tls.Certificate // host or "*.parent"
}

// BuildCertificates returns the certificates of ingresses' spec.tls: each entry's hosts get
// the key pair (tls.crt, tls.key) of the Secret secretName in the Ingress's namespace; the
// oldest Ingress wins a host; a missing or unparsable Secret gives none.
func BuildCertificates(ingresses []*api.Ingress, secrets []*api.Secret) *Certificates {
	sec := map[string]*api.Secret{}
	for _, s := range secrets {
		sec[s.Namespace+"/"+s.Name] = s
	}
	c := &Certificates{byHost: map[string]*tls.Certificate{}}
	for _, ing := range sortedByAge(ingresses) {
		for _, t := range ing.Spec.TLS {
			s := sec[ing.Namespace+"/"+t.SecretName]
			if s == nil {
				continue
			}
			cert, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"])
			if err != nil {
				continue
			}
			for _, h := range t.Hosts {
				h = strings.ToLower(h)
				if _, ok := c.byHost[h]; !ok {
					c.byHost[h] = &cert
				}
			}
		}
	}
	return c
}

// Get returns the certificate for a TLS server name: the exact host's, else its "*.parent"
// wildcard's (one label), else nil.
func (c *Certificates) Get(serverName string) *tls.Certificate {
	h := strings.ToLower(strings.TrimSuffix(serverName, "."))
	if cert, ok := c.byHost[h]; ok {
		return cert
	}
	if _, parent, ok := strings.Cut(h, "."); ok {
		return c.byHost["*."+parent]
	}
	return nil
}

// Len returns how many hosts have a certificate.
func (c *Certificates) Len() int { return len(c.byHost) }
