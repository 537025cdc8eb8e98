package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

// TestConfigCtl creates a ConfigMap and an encrypted Secret with `create` and reads them
// back through get, get -o yaml and describe.
func TestConfigCtl(t *testing.T) {
	o, _ := startCtl(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	props := write("app.properties", "color=blue\n")
	env := write("app.env", "# settings\nMODE=fast\n\nLEVEL=3\n")
	enc := write("enc.yaml", "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n"+
		"  providers:\n  - aesgcm:\n      keys:\n      - name: k1\n        secret: "+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))+"\n")

	wantLines(t, o.ok("ctl", "create", "configmap", "app", "--from-literal=greeting=hello", "--from-file="+props,
		"--from-file=renamed="+props, "--from-env-file="+env), "configmap/app created")
	if out := o.ok("ctl", "get", "cm"); !strings.Contains(out, "NAME   DATA   AGE") || !strings.Contains(out, "app    5 ") {
		t.Errorf("get cm:\n%s", out)
	}
	if _, _, err := o.run("ctl", "create", "configmap", "dup", "--from-literal=a=1", "--from-literal=a=2"); err == nil ||
		!strings.Contains(err.Error(), `cannot add key "a", another key by that name already exists`) {
		t.Errorf("duplicate key: %v", err)
	}
	wantLines(t, o.ok("ctl", "--encryption-provider-config", enc, "create", "secret", "generic", "creds", "--from-literal=password=hunter2"),
		"secret/creds created")
	if out := o.ok("ctl", "--encryption-provider-config", enc, "get", "secret"); !strings.Contains(out, "NAME    TYPE     DATA   AGE") ||
		!strings.Contains(out, "creds   Opaque   1 ") {
		t.Errorf("get secret:\n%s", out)
	}
	if out := o.ok("ctl", "--encryption-provider-config", enc, "get", "secret", "creds", "-o", "yaml"); !strings.Contains(out, "password: aHVudGVyMg==") {
		t.Errorf("get -o yaml:\n%s", out)
	}
	out := o.ok("ctl", "--encryption-provider-config", enc, "describe", "secret", "creds")
	if !strings.Contains(out, "password:  7 bytes") || strings.Contains(out, "hunter2") {
		t.Errorf("describe secret:\n%s", out)
	}
	if _, _, err := o.run("ctl", "get", "secret", "creds"); err == nil || !strings.Contains(err.Error(), "is encrypted (k8s:enc:aesgcm:v1:k1)") {
		t.Errorf("get without the key: %v", err)
	}
	var cm api.ConfigMap
	if err := json.Unmarshal([]byte(o.ok("ctl", "get", "cm", "app", "-o", "json")), &cm); err != nil || cm.Data["app.properties"] != "color=blue\n" ||
		cm.Data["renamed"] != "color=blue\n" || cm.Data["MODE"] != "fast" || cm.Data["LEVEL"] != "3" || cm.Data["greeting"] != "hello" {
		t.Errorf("configmap: %+v, %v", cm, err)
	}
}
