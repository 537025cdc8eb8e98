package proccluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keeldb/keel/internal/failpoint"
)

// gofailTimeout bounds one request to a member's gofail endpoint; a hang guard.
const gofailTimeout = 10 * time.Second

// gofailEnv returns member i's GOFAIL_HTTP entry when Config.GofailHTTP is set.
func (c *Cluster) gofailEnv(i int) []string {
	if len(c.gofailPorts) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("GOFAIL_HTTP=127.0.0.1:%d", c.gofailPorts[i])}
}

// Gofail sends one request to member i's gofail endpoint (Config.GofailHTTP), e.g. GET "" for
// the list of failpoints, and returns the status and body.
func (c *Cluster) Gofail(ctx context.Context, i int, method, path, body string) (int, string, error) {
	if len(c.gofailPorts) == 0 {
		return 0, "", fmt.Errorf("proccluster: Config.GofailHTTP is not set")
	}
	ctx, cancel := context.WithTimeout(ctx, gofailTimeout)
	defer cancel()
	url := fmt.Sprintf("http://127.0.0.1:%d/%s", c.gofailPorts[i], path)
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// ArmFailpoint sets gofail term (e.g. "panic", "sleep(100)", "1*panic") on failpoint name of
// member i, over the member's GOFAIL_HTTP endpoint (Config.GofailHTTP). It fails when gofail
// refuses, e.g. for a name the binary does not register, so a renamed failpoint breaks the
// tests that arm it.
func (c *Cluster) ArmFailpoint(ctx context.Context, i int, name failpoint.Name, term string) error {
	code, body, err := c.Gofail(ctx, i, http.MethodPut, string(name), term)
	if err == nil && code != http.StatusNoContent {
		err = fmt.Errorf("status %d %q", code, body)
	}
	if err != nil {
		return fmt.Errorf("proccluster: arming %s=%s on m%d: %w", name, term, i, err)
	}
	return nil
}

// DisarmFailpoint clears failpoint name on member i.
func (c *Cluster) DisarmFailpoint(ctx context.Context, i int, name failpoint.Name) error {
	code, body, err := c.Gofail(ctx, i, http.MethodDelete, string(name), "")
	if err == nil && code != http.StatusNoContent {
		err = fmt.Errorf("status %d %q", code, body)
	}
	if err != nil {
		return fmt.Errorf("proccluster: disarming %s on m%d: %w", name, i, err)
	}
	return nil
}

// FailpointCount returns how often failpoint name fired on member i since it was armed.
func (c *Cluster) FailpointCount(ctx context.Context, i int, name failpoint.Name) (int, error) {
	code, body, err := c.Gofail(ctx, i, http.MethodGet, string(name)+"/count", "")
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("status %d %q", code, body)
	}
	var n int
	if err == nil {
		n, err = strconv.Atoi(strings.TrimSpace(body))
	}
	if err != nil {
		return 0, fmt.Errorf("proccluster: count of %s on m%d: %w", name, i, err)
	}
	return n, nil
}
