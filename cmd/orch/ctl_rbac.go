package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
)

// commaList is a repeatable flag whose values may also be comma-separated (pflag's
// StringSlice, as kubectl's --verb and --resource).
type commaList []string

func (l *commaList) String() string { return strings.Join(*l, ",") }

func (l *commaList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// rbacCreateOptions are kubectl's flags of create role|clusterrole|rolebinding|
// clusterrolebinding.
type rbacCreateOptions struct {
	verbs, resources, nonResourceURLs commaList
	resourceNames                     sourceList
	users, groups, serviceAccounts    sourceList
	role, clusterRole                 string
}

// rbacCreateFlags registers the RBAC flags of `orch ctl create` on fs and returns the
// handler of its RBAC kinds; the handler reports handled false for another kind.
func rbacCreateFlags(fs *flag.FlagSet, ns *string) func(ctx context.Context, c *ctl, pos []string) (bool, error) {
	var o rbacCreateOptions
	fs.Var(&o.verbs, "verb", "create role|clusterrole: verbs that apply to the resources (repeatable, comma-separated)")
	fs.Var(&o.resources, "resource", "create role|clusterrole: resources the rule applies to, resource[.group][/subresource] (repeatable)")
	fs.Var(&o.resourceNames, "resource-name", "create role|clusterrole: resource names the rule applies to (repeatable)")
	fs.Var(&o.nonResourceURLs, "non-resource-url", "create clusterrole: non-resource URLs the rule applies to (repeatable)")
	fs.StringVar(&o.role, "role", "", "create rolebinding: the Role to bind")
	fs.StringVar(&o.clusterRole, "clusterrole", "", "create rolebinding|clusterrolebinding: the ClusterRole to bind")
	// kubectl's local --user shadows its global one; here it shadows etcd's --user, whose
	// credentials `create` then takes from ETCDCTL_USER only.
	const userUsage = "create rolebinding|clusterrolebinding: users to bind (repeatable; on create it is not etcd's --user: use ETCDCTL_USER)"
	if f := fs.Lookup("user"); f != nil {
		f.Value, f.Usage = &o.users, userUsage
	} else {
		fs.Var(&o.users, "user", userUsage)
	}
	fs.Var(&o.groups, "group", "create rolebinding|clusterrolebinding: groups to bind (repeatable)")
	fs.Var(&o.serviceAccounts, "serviceaccount", "create rolebinding|clusterrolebinding: service accounts to bind, namespace:name (repeatable)")
	return func(ctx context.Context, c *ctl, pos []string) (bool, error) {
		if len(pos) == 0 {
			return false, nil
		}
		kind := pos[0]
		switch kind {
		case "rolebinding", "clusterrolebinding":
		case "role", "clusterrole":
			if len(o.users) > 0 {
				return true, errors.New("unknown flag: --user (create role|clusterrole takes no subjects)")
			}
		default:
			if len(o.users) > 0 {
				return true, errors.New("--user on create names a binding's subject, as kubectl's; give etcd's user with ETCDCTL_USER")
			}
			return false, nil
		}
		if len(pos) != 2 {
			fmt.Fprintf(c.stderr, "usage: orch ctl create %s NAME [flags]\n", kind)
			return true, errUsage
		}
		obj, err := o.build(kind, pos[1], *ns, c)
		if err != nil {
			return true, err
		}
		res := api.ResourceOf(obj)
		if _, err := c.clients[res.Name].create(ctx, obj); err != nil {
			return true, err
		}
		fmt.Fprintf(c.stdout, "%s/%s created\n", qualifiedKind(res), pos[1])
		return true, nil
	}
}

// build returns the object `create KIND NAME` describes, refusing flags as kubectl does.
func (o *rbacCreateOptions) build(kind, name, ns string, c *ctl) (api.Object, error) {
	meta := api.ObjectMeta{Name: name}
	switch kind {
	case "role", "clusterrole":
		rules, err := o.rules(kind == "clusterrole", c)
		if err != nil {
			return nil, err
		}
		if kind == "role" {
			meta.Namespace = ns
			return &api.Role{ObjectMeta: meta, Rules: rules}, nil
		}
		return &api.ClusterRole{ObjectMeta: meta, Rules: rules}, nil
	}
	var ref api.RoleRef
	switch {
	case kind == "clusterrolebinding" && o.role != "":
		return nil, errors.New("unknown flag: --role (clusterrolebindings bind ClusterRoles only)")
	case kind == "clusterrolebinding" && o.clusterRole == "":
		return nil, errors.New("clusterrole must be specified")
	case kind == "rolebinding" && (o.role == "") == (o.clusterRole == ""):
		return nil, errors.New("exactly one of clusterrole or role must be specified")
	case o.role != "":
		ref = api.RoleRef{APIGroup: api.RBACGroup, Kind: "Role", Name: o.role}
	default:
		ref = api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: o.clusterRole}
	}
	var subjects []api.Subject
	for _, u := range o.users {
		subjects = append(subjects, api.Subject{Kind: api.UserKind, APIGroup: api.RBACGroup, Name: u})
	}
	for _, g := range o.groups {
		subjects = append(subjects, api.Subject{Kind: api.GroupKind, APIGroup: api.RBACGroup, Name: g})
	}
	for _, sa := range o.serviceAccounts {
		saNS, saName, ok := strings.Cut(sa, ":")
		if !ok || saNS == "" || saName == "" {
			return nil, fmt.Errorf("serviceaccount must be <namespace>:<name>")
		}
		subjects = append(subjects, api.Subject{Kind: api.ServiceAccountKind, Namespace: saNS, Name: saName})
	}
	if kind == "rolebinding" {
		meta.Namespace = ns
		return &api.RoleBinding{ObjectMeta: meta, Subjects: subjects, RoleRef: ref}, nil
	}
	return &api.ClusterRoleBinding{ObjectMeta: meta, Subjects: subjects, RoleRef: ref}, nil
}

var (
	standardResourceVerbs = []string{"*", "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "use", "bind", "escalate", "impersonate"}
	nonResourceVerbs      = []string{"*", "get", "post", "put", "delete", "patch", "head", "options"}
)

// rules builds one rule per API group of the --resource values (kubectl's grouping), and
// one for the --non-resource-url values (cluster roles only).
func (o *rbacCreateOptions) rules(cluster bool, c *ctl) ([]api.PolicyRule, error) {
	if len(o.verbs) == 0 {
		return nil, errors.New("at least one verb must be specified")
	}
	switch {
	case !cluster && len(o.resources) == 0:
		return nil, errors.New("at least one resource must be specified")
	case cluster && len(o.resources) == 0 && len(o.nonResourceURLs) == 0:
		return nil, errors.New("one of resource or nonResourceURL must be specified")
	case !cluster && len(o.nonResourceURLs) > 0:
		return nil, errors.New("unknown flag: --non-resource-url (roles are namespaced and cannot apply to non-resource URLs)")
	}
	for _, u := range o.nonResourceURLs {
		if !strings.HasPrefix(u, "/") {
			return nil, fmt.Errorf("%q is not a valid nonResourceURL: it should start with /", u)
		}
		if i := strings.Index(u, "*"); i >= 0 && i != len(u)-1 {
			return nil, fmt.Errorf("%q is not a valid nonResourceURL: only '*' at the end is supported", u)
		}
	}
	if len(o.nonResourceURLs) > 0 {
		for _, v := range o.verbs {
			if !slices.Contains(nonResourceVerbs, v) {
				return nil, fmt.Errorf("invalid verb: '%s' for nonResourceURL", v)
			}
		}
	}
	if len(o.resources) > 0 {
		for _, v := range o.verbs {
			if !slices.Contains(standardResourceVerbs, v) {
				fmt.Fprintf(c.stderr, "Warning: '%s' is not a standard resource verb\n", v)
			}
		}
	}
	byGroup := map[string][]string{}
	var groups []string
	for _, r := range o.resources {
		group, resource, err := resolveRuleResource(r)
		if err != nil {
			return nil, err
		}
		if _, ok := byGroup[group]; !ok {
			groups = append(groups, group)
		}
		if !slices.Contains(byGroup[group], resource) {
			byGroup[group] = append(byGroup[group], resource)
		}
	}
	slices.Sort(groups)
	var rules []api.PolicyRule
	for _, g := range groups {
		rules = append(rules, api.PolicyRule{Verbs: o.verbs, APIGroups: []string{g}, Resources: byGroup[g], ResourceNames: o.resourceNames})
	}
	if len(o.nonResourceURLs) > 0 {
		rules = append(rules, api.PolicyRule{Verbs: o.verbs, NonResourceURLs: o.nonResourceURLs})
	}
	return rules, nil
}

// resolveRuleResource parses kubectl's resource[.group][/subresource] and resolves short
// names and kinds to the plural and its group ("deploy" → "apps", "deployments"); "*" is
// every resource.
func resolveRuleResource(s string) (group, resource string, err error) {
	base, sub, _ := strings.Cut(s, "/")
	name, group, _ := strings.Cut(base, ".")
	if name == "" {
		return "", "", errors.New("resource must be specified if apiGroup/subresource specified")
	}
	if name != "*" {
		r, ok := api.LookupResource(name)
		rGroup, _, hasGroup := strings.Cut(r.APIVersion, "/")
		if !hasGroup {
			rGroup = ""
		}
		if !ok || (group != "" && group != rGroup) {
			return "", "", fmt.Errorf("the server doesn't have a resource type %q", base)
		}
		name, group = r.Name, rGroup
	}
	if sub != "" {
		name += "/" + sub
	}
	return group, name, nil
}
