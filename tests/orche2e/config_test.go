package orche2e_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// configPod reads a ConfigMap key from its env and, every half second, the ConfigMap's and
// the Secret's files at their mountPaths (under MNT, a directory of the test).
const configPod = `apiVersion: v1
kind: Pod
metadata:
  name: reader
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo env=$GREETING; while true; do echo file=$(cat MNT/app/greeting) secret=$(cat MNT/creds/password) sub=$(cat MNT/one); sleep 0.5; done"]
    readinessProbe:
      exec: {command: ["cat", "MNT/creds/password"]}
      periodSeconds: 1
    env:
    - name: GREETING
      valueFrom:
        configMapKeyRef: {name: app, key: greeting}
    volumeMounts:
    - {name: app, mountPath: MNT/app}
    - {name: creds, mountPath: MNT/creds, readOnly: true}
    - {name: app, mountPath: MNT/one, subPath: greeting}
    - {name: scratch, mountPath: MNT/scratch}
  volumes:
  - name: app
    configMap: {name: app}
  - name: creds
    secret: {secretName: creds, defaultMode: 0400}
  - name: scratch
    emptyDir: {}
---
apiVersion: v1
kind: Pod
metadata:
  name: waiter
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo late=$LATE; sleep 3600"]
    envFrom:
    - prefix: LA
      configMapRef: {name: later}
`

// TestConfigAndSecrets runs pods of process-mode agents that consume a ConfigMap and a
// Secret: the env variable and the mounted files hold their values, a ConfigMap update
// shows in the mounted file within a minute without a restart, the Secret is ciphertext in
// the store (every component runs with the same EncryptionConfiguration), and a pod whose
// ConfigMap is missing waits with CreateContainerConfigError until it is created. An exec
// probe sees the container's mounts.
func TestConfigAndSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster of processes")
	}
	s := newSystem(t)
	enc := filepath.Join(t.TempDir(), "encryption.yaml")
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	if err := writeFile(enc, "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"+
		"- resources: [secrets]\n  providers:\n  - aesgcm:\n      keys:\n      - name: key1\n        secret: "+key+"\n  - identity: {}\n"); err != nil {
		t.Fatal(err)
	}
	s.start("s1", "scheduler", "--id", "s1")
	for i := 1; i <= 2; i++ {
		s.start(fmt.Sprintf("agent-n%d", i), "agent", "--runtime", "process", "--node", fmt.Sprintf("n%d", i),
			"--address", s.agentAddress(i), "--pod-cidr", fmt.Sprintf("127.%d.%d.0/24", s.net, 10+i),
			"--root-dir", s.agentRoot(i), "--encryption-provider-config", enc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitFor(t, ctx, "2 nodes Ready", 60*time.Second, func() error { return s.nodesReady(ctx, 2) })

	const secret = "s3cr3t-value"
	s.mustCtl("create", "configmap", "app", "--from-literal=greeting=hello")
	s.mustCtl("--encryption-provider-config", enc, "create", "secret", "generic", "creds", "--from-literal=password="+secret)

	// At rest: ciphertext under the Kubernetes prefix, neither the value nor its base64.
	resp, err := s.cli.Get(ctx, "/registry/secrets/default/creds")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get the secret's key: %v, %v", resp, err)
	}
	stored := resp.Kvs[0].Value
	if !bytes.HasPrefix(stored, []byte("k8s:enc:aesgcm:v1:key1:")) || bytes.Contains(stored, []byte(secret)) ||
		bytes.Contains(stored, []byte(base64.StdEncoding.EncodeToString([]byte(secret)))) {
		t.Errorf("stored secret is not encrypted: %q", stored)
	}
	if out := s.mustCtl("--encryption-provider-config", enc, "get", "secret", "creds", "-o", "yaml"); !strings.Contains(out, "password: "+base64.StdEncoding.EncodeToString([]byte(secret))) {
		t.Errorf("get -o yaml: want the value base64, got\n%s", out)
	}

	mnt := filepath.Join(s.dir, "mnt")
	s.applyManifest(t, "config.yaml", strings.ReplaceAll(configPod, "MNT", mnt))
	logs := func(pod string) string {
		out, _ := s.ctl("logs", pod)
		return out
	}
	waitFor(t, ctx, "reader sees the env, the ConfigMap and the Secret", 60*time.Second, func() error {
		out := logs("reader")
		if !strings.Contains(out, "env=hello") || !strings.Contains(out, "file=hello secret="+secret+" sub=hello") {
			return fmt.Errorf("logs: %q", lastLines(out, 3))
		}
		return nil
	})

	// An update shows in the mounted file in place, without a restart (the subPath mount
	// keeps the old file, as in Kubernetes).
	s.applyManifest(t, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {greeting: bye}\n")
	d := waitFor(t, ctx, "reader sees the ConfigMap update", 60*time.Second, func() error {
		if out := logs("reader"); !strings.Contains(out, "file=bye secret="+secret+" sub=hello") {
			return fmt.Errorf("logs: %q", lastLines(out, 2))
		}
		return nil
	})
	t.Logf("update seen after %v", d)
	p, err := s.stores.Pods.Get(ctx, "default", "reader")
	if err != nil {
		t.Fatal(err)
	}
	if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].RestartCount != 0 || cs[0].State.Running == nil {
		t.Errorf("reader restarted or stopped: %+v", cs)
	}
	// Its exec readiness probe runs in its mount namespace, where the Secret's file is.
	waitFor(t, ctx, "reader Ready", 30*time.Second, func() error {
		p, err := s.stores.Pods.Get(ctx, "default", "reader")
		if err != nil {
			return err
		}
		if !podReady(p) {
			return fmt.Errorf("conditions %+v", p.Status.Conditions)
		}
		return nil
	})

	// A missing ConfigMap: the container waits, and starts once the ConfigMap exists.
	waitFor(t, ctx, "waiter waits with CreateContainerConfigError", 60*time.Second, func() error {
		p, err := s.stores.Pods.Get(ctx, "default", "waiter")
		if err != nil {
			return err
		}
		if cs := p.Status.ContainerStatuses; len(cs) == 1 && cs[0].State.Waiting != nil &&
			cs[0].State.Waiting.Reason == "CreateContainerConfigError" && cs[0].State.Waiting.Message == `configmap "later" not found` {
			return nil
		}
		return fmt.Errorf("status: %+v", p.Status.ContainerStatuses)
	})
	waitFor(t, ctx, "a Warning event about the waiter", 30*time.Second, func() error {
		l, err := s.stores.Events.List(ctx, registry.ListOptions{Namespace: "default"})
		if err != nil {
			return err
		}
		for _, e := range l.Items {
			if e.InvolvedObject.Name == "waiter" && e.Type == "Warning" && e.Reason == "Failed" &&
				e.Message == `Error: configmap "later" not found` {
				return nil
			}
		}
		return fmt.Errorf("%d events, none about the waiter's ConfigMap", len(l.Items))
	})
	s.mustCtl("create", "configmap", "later", "--from-literal=TE=now")
	waitFor(t, ctx, "waiter runs with its envFrom", 60*time.Second, func() error {
		p, err := s.stores.Pods.Get(ctx, "default", "waiter")
		if err != nil {
			return err
		}
		if p.Status.Phase != api.PodRunning {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		if out := logs("waiter"); !strings.Contains(out, "late=now") {
			return fmt.Errorf("logs: %q", out)
		}
		return nil
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
