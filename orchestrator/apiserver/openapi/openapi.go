// Package openapi serves the OpenAPI v2 and v3 documents of the orchestrator's kinds, as
// kubectl needs them for `kubectl explain` and to detect server-side field validation.
package openapi

import (
	"net/http"

	"github.com/keeldb/keel/orchestrator/api"
)

// Register adds the OpenAPI handlers (/openapi/v2, /openapi/v3, /openapi/v3/...) for the
// given resources to mux.
func Register(mux *http.ServeMux, resources []api.Resource) {}
