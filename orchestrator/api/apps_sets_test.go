package api_test

import (
	"os"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

// Plain kubectl manifests of a DaemonSet and a StatefulSet, as the Kubernetes docs write them.
const setsManifest = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fluentd
  namespace: kube-system
spec:
  selector:
    matchLabels:
      name: fluentd
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 1
  template:
    metadata:
      labels:
        name: fluentd
    spec:
      tolerations:
      - key: node-role.kubernetes.io/control-plane
        operator: Exists
        effect: NoSchedule
      containers:
      - name: fluentd
        image: fluentd:v1
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: nginx
  serviceName: nginx
  replicas: 3
  podManagementPolicy: OrderedReady
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      partition: 1
  minReadySeconds: 0
  template:
    metadata:
      labels:
        app: nginx
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
          name: web
`

func TestDecodeSets(t *testing.T) {
	objs, err := api.DecodeManifests(strings.NewReader(setsManifest))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("got %d objects, want 2", len(objs))
	}
	ds := objs[0].(*api.DaemonSet)
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru.MaxUnavailable.String() != "1" || ru.MaxSurge.String() != "0" {
		t.Errorf("rollingUpdate = %v/%v, want maxUnavailable 1 maxSurge 0", ru.MaxUnavailable, ru.MaxSurge)
	}
	if *ds.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("revisionHistoryLimit = %d, want 10", *ds.Spec.RevisionHistoryLimit)
	}
	sts := objs[1].(*api.StatefulSet)
	if sts.Namespace != "default" || *sts.Spec.Replicas != 3 || sts.Spec.ServiceName != "nginx" ||
		*sts.Spec.UpdateStrategy.RollingUpdate.Partition != 1 || sts.Spec.PodManagementPolicy != api.OrderedReadyPodManagement {
		t.Errorf("statefulset spec = %+v", sts.Spec)
	}
	for _, name := range []string{"ds", "daemonsets", "DaemonSet"} {
		if r, ok := api.LookupResource(name); !ok || r.Kind != "DaemonSet" {
			t.Errorf("LookupResource(%q) = %v, %v", name, r, ok)
		}
	}
	if r, ok := api.LookupResource("sts"); !ok || r.Kind != "StatefulSet" {
		t.Errorf("LookupResource(sts) = %v, %v", r, ok)
	}
}

func TestValidateSets(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"volume claim templates", strings.Replace(setsManifest[strings.Index(setsManifest, "apiVersion: apps/v1\nkind: StatefulSet"):],
			"  minReadySeconds: 0\n", "  volumeClaimTemplates:\n  - metadata:\n      name: www\n    spec:\n      accessModes: [ReadWriteOnce]\n", 1),
			"spec.volumeClaimTemplates[0].spec.resources.requests.storage: Required value"},
		{"negative replicas", stsDoc("replicas: 3", "replicas: -1"), `spec.replicas: Invalid value: "-1": must be greater than or equal to 0`},
		{"bad policy", stsDoc("podManagementPolicy: OrderedReady", "podManagementPolicy: Random"),
			`spec.podManagementPolicy: Unsupported value: "Random": supported values: "OrderedReady", "Parallel"`},
		{"negative partition", stsDoc("partition: 1", "partition: -2"),
			`spec.updateStrategy.rollingUpdate.partition: Invalid value: "-2": must be greater than or equal to 0`},
		{"onDelete with rollingUpdate", stsDoc("type: RollingUpdate", "type: OnDelete"),
			`spec.updateStrategy.rollingUpdate: Invalid value: "true": only allowed for updateStrategy 'RollingUpdate'`},
		{"ds both zero", dsDoc("maxUnavailable: 1", "maxUnavailable: 0"),
			`spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: "0": cannot be 0 when maxSurge is 0`},
		{"ds bad strategy", dsDoc("type: RollingUpdate", "type: Recreate"),
			`spec.updateStrategy.type: Unsupported value: "Recreate": supported values: "OnDelete", "RollingUpdate"`},
		{"ds restart policy", dsDoc("      containers:", "      restartPolicy: Never\n      containers:"),
			`spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`},
		{"ds selector mismatch", dsDoc("        name: fluentd\n    spec:", "        name: other\n    spec:"),
			"spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"},
		{"matchFields key", dsDoc("      containers:", "      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n            - matchFields:\n              - key: metadata.uid\n                operator: In\n                values: [a]\n      containers:"),
			`spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key: Unsupported value: "metadata.uid": supported values: "metadata.name"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := api.DecodeManifests(strings.NewReader(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func stsDoc(old, repl string) string {
	doc := setsManifest[strings.Index(setsManifest, "apiVersion: apps/v1\nkind: StatefulSet"):]
	return strings.Replace(doc, old, repl, 1)
}

func dsDoc(old, repl string) string {
	doc := setsManifest[:strings.Index(setsManifest, "---")]
	return strings.Replace(doc, old, repl, 1)
}

func TestNodeMatcherFields(t *testing.T) {
	spec := &api.PodSpec{NodeSelector: map[string]string{"role": "edge"}, Affinity: &api.Affinity{NodeAffinity: &api.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{NodeSelectorTerms: []api.NodeSelectorTerm{
			{MatchFields: []api.NodeSelectorRequirement{{Key: api.NodeFieldName, Operator: "In", Values: []string{"n1"}}}},
		}}}}}
	if names, ok := api.RequiredNodeNames(spec); !ok || len(names) != 1 || names[0] != "n1" {
		t.Errorf("RequiredNodeNames = %v, %v; want [n1], true", names, ok)
	}
	if _, ok := api.RequiredNodeNames(&api.PodSpec{}); ok {
		t.Error("RequiredNodeNames of a spec without affinity is ok")
	}
	m := api.NewNodeMatcher(spec)
	for _, tt := range []struct {
		name  string
		role  string
		match bool
	}{{"n1", "edge", true}, {"n2", "edge", false}, {"n1", "core", false}} {
		n := &api.Node{ObjectMeta: api.ObjectMeta{Name: tt.name, Labels: map[string]string{"role": tt.role}}}
		if got := m.Matches(n); got != tt.match {
			t.Errorf("Matches(%s, role=%s) = %v, want %v", tt.name, tt.role, got, tt.match)
		}
	}
}

// TestExampleSets decodes examples/sets.yaml, the README's DaemonSet and StatefulSet.
func TestExampleSets(t *testing.T) {
	f, err := os.Open("../../examples/sets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	objs, err := api.DecodeManifests(f)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.TypeInfo().Kind)
	}
	if got := strings.Join(kinds, ","); got != "DaemonSet,Service,StatefulSet" {
		t.Errorf("kinds = %s", got)
	}
}
