//go:build failpoints

package failpoint

import (
	"errors"
	"fmt"

	gofail "go.etcd.io/gofail/runtime"
)

// Enabled reports whether this binary was built with the `failpoints` tag: true here.
const Enabled = true

// registered maps every name of All to its gofail failpoint. Filled at init and never
// written again, so it is read without a lock. Registering at init, not at first use, lets
// GOFAIL_FAILPOINTS and the HTTP endpoint arm a failpoint before the code reaches it.
var registered = func() map[Name]*gofail.Failpoint {
	m := make(map[Name]*gofail.Failpoint)
	for _, n := range All() {
		m[n] = gofail.NewFailpoint(string(n))
	}
	return m
}()

// Inject evaluates the failpoint's armed term, if any: it sleeps, panics or prints as the term
// says, and returns at once when the failpoint is not armed. A `panic` term panics with a
// message naming the failpoint (gofail's own names only the term's value), so a member's log
// says which failpoint stopped it. An unknown name panics: every caller passes one of the
// constants.
func Inject(name Name) {
	fp, ok := registered[name]
	if !ok {
		panic(fmt.Sprintf("failpoint: %q is not registered", name))
	}
	defer func() {
		if r := recover(); r != nil {
			panic(fmt.Sprintf("failpoint %s: %v", name, r))
		}
	}()
	_, _ = fp.Acquire() // a disarmed failpoint reports ErrDisabled: nothing to do
}

// Arm sets the failpoint's term (gofail's syntax, e.g. "panic", "sleep(100)", "1*panic").
// It fails on an unknown name or a term gofail cannot parse.
func Arm(name Name, term string) error {
	if err := gofail.Enable(string(name), term); err != nil {
		return fmt.Errorf("failpoint: arm %s=%q: %w", name, term, err)
	}
	return nil
}

// Disarm clears the failpoint's term. Disarming one that is not armed is not an error; an
// unknown name is.
func Disarm(name Name) error {
	if err := gofail.Disable(string(name)); err != nil && !errors.Is(err, gofail.ErrDisabled) {
		return fmt.Errorf("failpoint: disarm %s: %w", name, err)
	}
	return nil
}

// Status returns the term of every armed failpoint.
func Status() map[Name]string {
	out := make(map[Name]string)
	for n := range registered {
		if term, _, err := gofail.Status(string(n)); err == nil {
			out[n] = term
		}
	}
	return out
}
