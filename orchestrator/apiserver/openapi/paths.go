package openapi

import (
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
)

// operation is one REST operation of a resource, the same in both documents.
type operation struct {
	method  string // get, post, put, patch, delete
	action  string // x-kubernetes-action: get, list, post, put, patch, delete, deletecollection
	id      string
	params  []param
	body    string // definition name of the request body, "" for none; patchName for PATCH
	returns string // definition name of the 200 response
	created bool   // POST answers 201 too
}

// param is a query or path parameter.
type param struct {
	name, in, typ, description string
	required                   bool
}

var (
	pretty          = param{"pretty", "query", "string", "If 'true', then the output is pretty printed.", false}
	dryRun          = param{"dryRun", "query", "string", "When present, indicates that modifications should not be persisted. Valid values are: All.", false}
	fieldManager    = param{"fieldManager", "query", "string", "fieldManager is a name associated with the actor or entity that is making these changes.", false}
	fieldValidation = param{"fieldValidation", "query", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.", false}
	force           = param{"force", "query", "boolean", "Force is going to \"force\" Apply requests. It must be unset for non-apply patch requests.", false}
	gracePeriod     = param{"gracePeriodSeconds", "query", "integer", "The duration in seconds before the object should be deleted.", false}
	propagation     = param{"propagationPolicy", "query", "string", "Whether and how garbage collection will be performed: Orphan, Background or Foreground.", false}
	listParams      = []param{
		{"allowWatchBookmarks", "query", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\".", false},
		{"continue", "query", "string", "The continue option should be set when retrieving more results from the server.", false},
		{"fieldSelector", "query", "string", "A selector to restrict the list of returned objects by their fields.", false},
		{"labelSelector", "query", "string", "A selector to restrict the list of returned objects by their labels.", false},
		{"limit", "query", "integer", "limit is a maximum number of responses to return for a list call.", false},
		{"resourceVersion", "query", "string", "resourceVersion sets a constraint on what resource versions a request may be served from.", false},
		{"resourceVersionMatch", "query", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls.", false},
		{"sendInitialEvents", "query", "boolean", "sendInitialEvents=true may be set together with watch=true.", false},
		{"timeoutSeconds", "query", "integer", "Timeout for the list/watch call.", false},
		{"watch", "query", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.", false},
	}
	nameParam      = param{"name", "path", "string", "name of the resource", true}
	namespaceParam = param{"namespace", "path", "string", "object name and auth scope, such as for teams and projects", true}
)

// pathItem is one path with its path parameters and operations.
type pathItem struct {
	path   string
	params []param
	ops    []operation
}

// groupVersionPath is the URL path of an apiVersion: "api/v1" or "apis/apps/v1".
func groupVersionPath(apiVersion string) string {
	if strings.Contains(apiVersion, "/") {
		return "apis/" + apiVersion
	}
	return "api/" + apiVersion
}

// opID is Kubernetes' operation id: verb, group and version, scope, kind ("patchAppsV1NamespacedDeployment").
func opID(verb string, r api.Resource, namespaced bool, suffix string) string {
	group, version, ok := strings.Cut(r.APIVersion, "/")
	if !ok {
		group, version = "core", r.APIVersion
	}
	group, _, _ = strings.Cut(group, ".")
	scope := ""
	if namespaced {
		scope = "Namespaced"
	}
	return verb + upper(group) + upper(version) + scope + r.Kind + suffix
}

func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// resourcePaths returns the paths of a resource's operations, as Kubernetes serves them.
func resourcePaths(r api.Resource, kindName, listName string) []pathItem {
	base := "/" + groupVersionPath(r.APIVersion)
	coll := base + "/" + r.Name
	var scope []param
	if r.Namespaced {
		coll = base + "/namespaces/{namespace}/" + r.Name
		scope = []param{namespaceParam}
	}
	write := []param{dryRun, fieldManager, fieldValidation}
	del := []param{dryRun, gracePeriod, propagation}
	ns := r.Namespaced
	items := []pathItem{
		{path: coll, params: append(scope, pretty), ops: []operation{
			{method: "get", action: "list", id: opID("list", r, ns, ""), params: listParams, returns: listName},
			{method: "post", action: "post", id: opID("create", r, ns, ""), params: write, body: kindName, returns: kindName, created: true},
			{method: "delete", action: "deletecollection", id: opID("deleteCollection", r, ns, ""),
				params: append(append([]param{}, del...), listParams...), returns: statusName},
		}},
		{path: coll + "/{name}", params: append(append([]param{nameParam}, scope...), pretty), ops: []operation{
			{method: "get", action: "get", id: opID("read", r, ns, ""), returns: kindName},
			{method: "put", action: "put", id: opID("replace", r, ns, ""), params: write, body: kindName, returns: kindName},
			{method: "patch", action: "patch", id: opID("patch", r, ns, ""), params: append(write, force), body: patchName, returns: kindName},
			{method: "delete", action: "delete", id: opID("delete", r, ns, ""), params: del, returns: statusName},
		}},
	}
	if ns {
		items = append(items, pathItem{path: base + "/" + r.Name, params: []param{pretty}, ops: []operation{
			{method: "get", action: "list", id: opID("list", r, false, "ForAllNamespaces"), params: listParams, returns: listName},
		}})
	}
	if r.HasStatus {
		items = append(items, pathItem{path: coll + "/{name}/status", params: append(append([]param{nameParam}, scope...), pretty), ops: []operation{
			{method: "get", action: "get", id: opID("read", r, ns, "Status"), returns: kindName},
			{method: "put", action: "put", id: opID("replace", r, ns, "Status"), params: write, body: kindName, returns: kindName},
			{method: "patch", action: "patch", id: opID("patch", r, ns, "Status"), params: append(write, force), body: patchName, returns: kindName},
		}})
	}
	return items
}

// patchTypes are the content types a PATCH accepts.
var patchTypes = []string{
	"application/json-patch+json",
	"application/merge-patch+json",
	"application/strategic-merge-patch+json",
	"application/apply-patch+yaml",
}

var responseTypes = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
