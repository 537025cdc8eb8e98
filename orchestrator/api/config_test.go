package api_test

import (
	"os"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

const configManifest = `apiVersion: v1
kind: ConfigMap
metadata:
  name: app
data:
  greeting: hello
  app.properties: |
    a=1
binaryData:
  blob: AAEC
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
type: Opaque
data:
  password: aHVudGVyMg==
stringData:
  user: admin
  password: override
---
apiVersion: v1
kind: Pod
metadata:
  name: reader
spec:
  containers:
  - name: c
    image: busybox
    command: [sh, -c, cat /etc/app/greeting]
    env:
    - name: GREETING
      valueFrom:
        configMapKeyRef: {name: app, key: greeting}
    - name: PASSWORD
      valueFrom:
        secretKeyRef: {name: creds, key: password, optional: true}
    envFrom:
    - prefix: APP_
      configMapRef: {name: app}
    volumeMounts:
    - {name: cfg, mountPath: /etc/app, readOnly: true}
    - {name: creds, mountPath: /etc/creds/password, subPath: password}
    - {name: scratch, mountPath: /scratch}
  volumes:
  - name: cfg
    configMap:
      name: app
      items: [{key: greeting, path: greeting}]
  - name: creds
    secret: {secretName: creds, defaultMode: 0400}
  - name: scratch
    emptyDir: {medium: Memory}
  - name: info
    downwardAPI:
      items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]
  - name: all
    projected:
      sources:
      - configMap: {name: app}
      - secret: {name: creds}
`

func TestDecodeConfig(t *testing.T) {
	objs, err := api.DecodeManifests(strings.NewReader(configManifest))
	if err != nil {
		t.Fatal(err)
	}
	cm := objs[0].(*api.ConfigMap)
	if cm.Data["greeting"] != "hello" || string(cm.BinaryData["blob"]) != "\x00\x01\x02" {
		t.Fatalf("configmap: got %+v", cm)
	}
	s := objs[1].(*api.Secret)
	if string(s.Data["password"]) != "override" || string(s.Data["user"]) != "admin" || s.StringData != nil {
		t.Fatalf("secret: stringData not merged into data: got %q, stringData %v", s.Data, s.StringData)
	}
	p := objs[2].(*api.Pod)
	if m := p.Spec.Volumes[0].ConfigMap.DefaultMode; m == nil || *m != 0o644 {
		t.Fatalf("configMap defaultMode: got %v, want 0644", m)
	}
	if m := *p.Spec.Volumes[1].Secret.DefaultMode; m != 0o400 {
		t.Fatalf("secret defaultMode: got %o, want 0400", m)
	}
}

func TestValidateConfigErrors(t *testing.T) {
	podWith := func(vols, mounts, env string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: i\n" + mounts + env + vols
	}
	for _, tc := range []struct{ name, manifest, want string }{
		{"bad key", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {\"a/b\": x}\n",
			`data[a/b]: Invalid value: "a/b": a valid config key must consist of alphanumeric characters`},
		{"too big", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: " + strings.Repeat("x", api.MaxConfigSize+1) + "}\n",
			"data: Too long: must have at most 1048576 bytes"},
		{"tls without key", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\nstringData: {tls.crt: x}\n",
			"data[tls.key]: Required value"},
		{"pvc without claim name", podWith("  volumes:\n  - name: v\n    persistentVolumeClaim: {readOnly: true}\n", "", ""),
			"spec.volumes[0].persistentVolumeClaim.claimName: Required value"},
		{"pvc unsupported field", podWith("  volumes:\n  - name: v\n    persistentVolumeClaim: {claimName: c, bogus: 1}\n", "", ""),
			"spec.volumes[0].persistentVolumeClaim.bogus: Unsupported field"},
		{"no volume type", podWith("  volumes:\n  - name: v\n", "", ""),
			"spec.volumes[0]: Required value: must specify a volume type"},
		{"two volume types", podWith("  volumes:\n  - name: v\n    emptyDir: {}\n    hostPath: {path: /tmp}\n", "", ""),
			"spec.volumes[0]: Forbidden: may not specify more than 1 volume type"},
		{"mount of no volume", podWith("", "    volumeMounts: [{name: nope, mountPath: /x}]\n", ""),
			`spec.containers[0].volumeMounts[0].name: Not found: "nope"`},
		{"subPath escapes", podWith("  volumes: [{name: v, emptyDir: {}}]\n", "    volumeMounts: [{name: v, mountPath: /x, subPath: ../etc}]\n", ""),
			`spec.containers[0].volumeMounts[0].subPath: Invalid value: "../etc": must not contain '..'`},
		{"bad mode", podWith("  volumes: [{name: v, secret: {secretName: s, defaultMode: 01000}}]\n", "", ""),
			"spec.volumes[0].secret.defaultMode: Invalid value: \"512\": must be a number between 0 and 0777 (octal), both inclusive"},
		{"two env sources", podWith("", "", "    env: [{name: A, valueFrom: {configMapKeyRef: {name: c, key: k}, secretKeyRef: {name: s, key: k}}}]\n"),
			"spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not have more than one field specified at a time"},
		{"env ref without key", podWith("", "", "    env: [{name: A, valueFrom: {configMapKeyRef: {name: c}}}]\n"),
			"spec.containers[0].env[0].valueFrom.configMapKeyRef.key: Required value"},
		{"medium", podWith("  volumes: [{name: v, emptyDir: {medium: HugePages}}]\n", "", ""),
			`spec.volumes[0].emptyDir.medium: Unsupported value: "HugePages"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := api.DecodeManifests(strings.NewReader(tc.manifest))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateUpdateImmutable(t *testing.T) {
	yes := true
	old := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c"}, Immutable: &yes, Data: map[string]string{"a": "1"}}
	next := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c"}, Immutable: &yes, Data: map[string]string{"a": "2"}}
	if got := api.ValidateUpdate(old, next).Error(); got != "data: Forbidden: field is immutable when `immutable` is set" {
		t.Fatalf("got %q", got)
	}
	next.Data["a"] = "1"
	next.Labels = map[string]string{"x": "y"}
	if errs := api.ValidateUpdate(old, next); len(errs) != 0 {
		t.Fatalf("metadata change of an immutable ConfigMap: got %v, want none", errs)
	}
	so := &api.Secret{ObjectMeta: api.ObjectMeta{Name: "s"}, Immutable: &yes, Type: "Opaque", Data: map[string][]byte{"a": []byte("1")}}
	sn := &api.Secret{ObjectMeta: api.ObjectMeta{Name: "s"}, Type: "Opaque", Data: map[string][]byte{"a": []byte("1")}}
	if got := api.ValidateUpdate(so, sn).Error(); got != "immutable: Forbidden: field is immutable when `immutable` is set" {
		t.Fatalf("got %q", got)
	}
}

// TestExampleConfig decodes examples/config.yaml, the README's ConfigMap, Secret and pod.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("../../examples/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := api.DecodeManifests(strings.NewReader(string(b)))
	if err != nil || len(objs) != 3 {
		t.Fatalf("got %d objects, %v", len(objs), err)
	}
}
