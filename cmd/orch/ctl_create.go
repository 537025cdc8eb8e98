package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/keeldb/keel/orchestrator/registry"
)

// createFlags is `orch ctl create job NAME --from=cronjob/CJ`: a Job from a CronJob's
// template, started now, as kubectl's.
func createFlags(fs *flag.FlagSet) func(ctx context.Context, c *ctl, pos []string) error {
	ns := namespaceFlag(fs)
	from := fs.String("from", "", "the resource to create the Job from (only cronjob/NAME is supported)")
	var src configSources
	src.register(fs)
	secretType := fs.String("type", "", "create secret generic: the Secret's type (default Opaque)")
	createRBAC := rbacCreateFlags(fs, ns)
	hard := fs.String("hard", "", "create quota: the hard limits, as pods=10,cpu=2")
	return func(ctx context.Context, c *ctl, pos []string) error {
		if handled, err := createRBAC(ctx, c, pos); handled {
			return err
		}
		if len(pos) > 0 && (pos[0] == "quota" || pos[0] == "resourcequota" || pos[0] == "resourcequotas") {
			return createQuota(ctx, c, *ns, pos, *hard)
		}
		if len(pos) > 0 && (pos[0] == "configmap" || pos[0] == "configmaps" || pos[0] == "cm" || pos[0] == "secret") {
			return createConfig(ctx, c, *ns, pos, &src, *secretType)
		}
		kind, cj, ok := strings.Cut(*from, "/")
		if len(pos) != 2 || pos[0] != "job" || !ok || cj == "" {
			fmt.Fprintln(c.stderr, "usage: orch ctl create job NAME --from=cronjob/NAME [-n NS]")
			return errUsage
		}
		if kind != "cronjob" && kind != "cronjobs" && kind != "cj" && kind != "cronjob.batch" {
			return fmt.Errorf("from must be an existing cronjob: %s", *from)
		}
		st := registry.NewStores(c.cli, registry.Config{})
		j, err := jobFromCronJob(ctx, st, *ns, pos[1], cj)
		if err != nil {
			return err
		}
		if _, err := st.Jobs.Create(ctx, j); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "job.batch/%s created\n", j.Name)
		return nil
	}
}
