package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
)

// cmControllerNames are the controllers `orch controller-manager` runs, by the names its
// --controllers flag takes. The event recorder the controllers share always runs.
var cmControllerNames = []string{
	"cronjob", "daemonset", "deployment", "endpoints", "garbagecollector", "horizontalpodautoscaling",
	"job", "nodelifecycle", "persistentvolume", "replicaset", "replicationcontroller", "resourcequota",
	"servicelb", "servicerepair", "statefulset",
}

// controllerSelection is the controller-manager's --controllers flag, as
// kube-controller-manager's: a comma-separated list where '*' enables every controller,
// 'name' enables one and '-name' disables one. The default, "*", runs them all.
type controllerSelection struct {
	spec string
	all  bool
	on   map[string]bool // name → enabled (true) or disabled (false)
}

func (s *controllerSelection) register(fs *flag.FlagSet) {
	fs.StringVar(&s.spec, "controllers", "*", "controllers to run: '*' all, 'name' enables one, '-name' disables one, comma-separated (names: "+
		strings.Join(cmControllerNames, ", ")+")")
}

// parse checks the flag's value; an unknown name is an error.
func (s *controllerSelection) parse() error {
	s.all, s.on = false, map[string]bool{}
	for f := range strings.SplitSeq(s.spec, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if f == "*" {
			s.all = true
			continue
		}
		name, off := strings.CutPrefix(f, "-")
		if !slices.Contains(cmControllerNames, name) {
			return fmt.Errorf("--controllers: unknown controller %q (want '*' or one of %s)", name, strings.Join(cmControllerNames, ", "))
		}
		s.on[name] = !off
	}
	return nil
}

// enabled reports whether the controller named name runs.
func (s *controllerSelection) enabled(name string) bool {
	if on, ok := s.on[name]; ok {
		return on
	}
	return s.all
}

// apply removes the controllers not selected from controllers (keyed by cmControllerNames,
// plus "events", the recorder, which stays). A key missing from cmControllerNames, or a
// name without its key, is an error: the list and the controller-manager's map have drifted.
func (s *controllerSelection) apply(controllers map[string]func(context.Context) error) error {
	for _, name := range cmControllerNames {
		if _, ok := controllers[name]; !ok {
			return fmt.Errorf("controller %q is listed but not built", name)
		}
	}
	for name := range controllers {
		if name == "events" {
			continue
		}
		if !slices.Contains(cmControllerNames, name) {
			return fmt.Errorf("controller %q is not in cmControllerNames", name)
		}
		if !s.enabled(name) {
			delete(controllers, name)
		}
	}
	return nil
}
