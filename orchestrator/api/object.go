package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
)

// Object is implemented by pointers to every API object type.
type Object interface {
	Meta() *ObjectMeta
	TypeInfo() *TypeMeta
}

// Resource describes how a kind is addressed and stored.
type Resource struct {
	// Name is the lowercase plural used in store keys and by the CLI ("pods").
	Name       string
	Kind       string
	APIVersion string
	Namespaced bool
	// HasStatus tells whether the kind has a status stanza written separately from spec.
	HasStatus bool
	// ShortNames are CLI aliases ("po", "deploy").
	ShortNames []string
}

// The supported resources.
var (
	NamespaceResource  = Resource{Name: "namespaces", Kind: "Namespace", APIVersion: "v1", HasStatus: true, ShortNames: []string{"ns"}}
	NodeResource       = Resource{Name: "nodes", Kind: "Node", APIVersion: "v1", HasStatus: true, ShortNames: []string{"no"}}
	PodResource        = Resource{Name: "pods", Kind: "Pod", APIVersion: "v1", Namespaced: true, HasStatus: true, ShortNames: []string{"po"}}
	ServiceResource    = Resource{Name: "services", Kind: "Service", APIVersion: "v1", Namespaced: true, HasStatus: true, ShortNames: []string{"svc"}}
	EndpointsResource  = Resource{Name: "endpoints", Kind: "Endpoints", APIVersion: "v1", Namespaced: true, ShortNames: []string{"ep"}}
	EventResource      = Resource{Name: "events", Kind: "Event", APIVersion: "v1", Namespaced: true, ShortNames: []string{"ev"}}
	ReplicaSetResource = Resource{Name: "replicasets", Kind: "ReplicaSet", APIVersion: "apps/v1", Namespaced: true, HasStatus: true, ShortNames: []string{"rs"}}
	DeploymentResource = Resource{Name: "deployments", Kind: "Deployment", APIVersion: "apps/v1", Namespaced: true, HasStatus: true, ShortNames: []string{"deploy"}}
	LeaseResource      = Resource{Name: "leases", Kind: "Lease", APIVersion: "coordination.k8s.io/v1", Namespaced: true}
	JobResource        = Resource{Name: "jobs", Kind: "Job", APIVersion: "batch/v1", Namespaced: true, HasStatus: true}
	CronJobResource    = Resource{Name: "cronjobs", Kind: "CronJob", APIVersion: "batch/v1", Namespaced: true, HasStatus: true, ShortNames: []string{"cj"}}

	// Workloads of apps_sets.go.
	DaemonSetResource   = Resource{Name: "daemonsets", Kind: "DaemonSet", APIVersion: "apps/v1", Namespaced: true, HasStatus: true, ShortNames: []string{"ds"}}
	StatefulSetResource = Resource{Name: "statefulsets", Kind: "StatefulSet", APIVersion: "apps/v1", Namespaced: true, HasStatus: true, ShortNames: []string{"sts"}}

	ReplicationControllerResource   = Resource{Name: "replicationcontrollers", Kind: "ReplicationController", APIVersion: "v1", Namespaced: true, HasStatus: true, ShortNames: []string{"rc"}}
	HorizontalPodAutoscalerResource = Resource{Name: "horizontalpodautoscalers", Kind: "HorizontalPodAutoscaler", APIVersion: "autoscaling/v2", Namespaced: true, HasStatus: true, ShortNames: []string{"hpa"}}
	PodMetricsResource              = Resource{Name: "podmetrics", Kind: "PodMetrics", APIVersion: "metrics.k8s.io/v1beta1", Namespaced: true}
	NodeMetricsResource             = Resource{Name: "nodemetrics", Kind: "NodeMetrics", APIVersion: "metrics.k8s.io/v1beta1"}
)

var kinds = map[string]struct {
	res Resource
	typ reflect.Type
}{
	"Namespace":  {NamespaceResource, reflect.TypeFor[Namespace]()},
	"Node":       {NodeResource, reflect.TypeFor[Node]()},
	"Pod":        {PodResource, reflect.TypeFor[Pod]()},
	"Service":    {ServiceResource, reflect.TypeFor[Service]()},
	"Endpoints":  {EndpointsResource, reflect.TypeFor[Endpoints]()},
	"Event":      {EventResource, reflect.TypeFor[Event]()},
	"ReplicaSet": {ReplicaSetResource, reflect.TypeFor[ReplicaSet]()},
	"Deployment": {DeploymentResource, reflect.TypeFor[Deployment]()},
	"Lease":      {LeaseResource, reflect.TypeFor[Lease]()},
	"Job":        {JobResource, reflect.TypeFor[Job]()},
	"CronJob":    {CronJobResource, reflect.TypeFor[CronJob]()},

	// Workloads of apps_sets.go.
	"DaemonSet":   {DaemonSetResource, reflect.TypeFor[DaemonSet]()},
	"StatefulSet": {StatefulSetResource, reflect.TypeFor[StatefulSet]()},

	"ReplicationController":   {ReplicationControllerResource, reflect.TypeFor[ReplicationController]()},
	"HorizontalPodAutoscaler": {HorizontalPodAutoscalerResource, reflect.TypeFor[HorizontalPodAutoscaler]()},
	"PodMetrics":              {PodMetricsResource, reflect.TypeFor[PodMetrics]()},
	"NodeMetrics":             {NodeMetricsResource, reflect.TypeFor[NodeMetrics]()},

	// Configuration of config.go.
	"ConfigMap": {ConfigMapResource, reflect.TypeFor[ConfigMap]()},
	"Secret":    {SecretResource, reflect.TypeFor[Secret]()},

	// Networking of networking.go.
	"Ingress":               {IngressResource, reflect.TypeFor[Ingress]()},
	"IngressClass":          {IngressClassResource, reflect.TypeFor[IngressClass]()},
	"PersistentVolume":      {PersistentVolumeResource, reflect.TypeFor[PersistentVolume]()},
	"PersistentVolumeClaim": {PersistentVolumeClaimResource, reflect.TypeFor[PersistentVolumeClaim]()},
	"StorageClass":          {StorageClassResource, reflect.TypeFor[StorageClass]()},

	// RBAC of rbac.go.
	"Role":               {RoleResource, reflect.TypeFor[Role]()},
	"ClusterRole":        {ClusterRoleResource, reflect.TypeFor[ClusterRole]()},
	"RoleBinding":        {RoleBindingResource, reflect.TypeFor[RoleBinding]()},
	"ClusterRoleBinding": {ClusterRoleBindingResource, reflect.TypeFor[ClusterRoleBinding]()},
	// Namespace policies of policy.go.
	"LimitRange":    {LimitRangeResource, reflect.TypeFor[LimitRange]()},
	"ResourceQuota": {ResourceQuotaResource, reflect.TypeFor[ResourceQuota]()},
}

// Resources returns every supported resource, sorted by name.
func Resources() []Resource {
	out := make([]Resource, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k.res)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ResourceForKind returns the resource of a kind.
func ResourceForKind(kind string) (Resource, bool) {
	k, ok := kinds[kind]
	return k.res, ok
}

// LookupResource finds a resource by plural name, kind (any case) or short name.
func LookupResource(name string) (Resource, bool) {
	for _, k := range kinds {
		r := k.res
		if eqFold(name, r.Name) || eqFold(name, r.Kind) || eqFold(name+"s", r.Name) {
			return r, true
		}
		for _, s := range r.ShortNames {
			if name == s {
				return r, true
			}
		}
	}
	return Resource{}, false
}

func eqFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// ResourceOf returns the resource of obj's Go type.
func ResourceOf(obj Object) Resource {
	t := reflect.TypeOf(obj).Elem()
	for _, k := range kinds {
		if k.typ == t {
			return k.res
		}
	}
	panic(fmt.Sprintf("api: %v is not an API object type", t))
}

// New returns a new empty object of kind, with apiVersion and kind set.
func New(kind string) (Object, error) {
	k, ok := kinds[kind]
	if !ok {
		return nil, fmt.Errorf("api: unsupported kind %q", kind)
	}
	obj := reflect.New(k.typ).Interface().(Object)
	*obj.TypeInfo() = TypeMeta{APIVersion: k.res.APIVersion, Kind: k.res.Kind}
	return obj, nil
}

// SetTypeMeta sets obj's apiVersion and kind from its Go type.
func SetTypeMeta(obj Object) {
	r := ResourceOf(obj)
	*obj.TypeInfo() = TypeMeta{APIVersion: r.APIVersion, Kind: r.Kind}
}

// DeepCopy returns an independent copy of obj (through JSON).
func DeepCopy[P Object](obj P) P {
	b, err := json.Marshal(obj)
	if err != nil {
		panic(fmt.Sprintf("api: marshal %T: %v", obj, err))
	}
	out := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(P)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("api: unmarshal %T: %v", obj, err))
	}
	return out
}

// KeyFunc returns the cache key of obj: "namespace/name", or "name" when cluster-scoped.
func KeyFunc(obj Object) string {
	m := obj.Meta()
	if m.Namespace == "" {
		return m.Name
	}
	return m.Namespace + "/" + m.Name
}
