//go:build !failpoints

package failpoint

import "fmt"

// Enabled reports whether this binary was built with the `failpoints` tag: false here.
const Enabled = false

// Inject does nothing: this binary was built without the `failpoints` tag, and the call
// inlines to nothing.
func Inject(Name) {}

// Arm fails: this binary was built without the `failpoints` tag.
func Arm(name Name, term string) error { return errNotBuilt(name) }

// Disarm fails: this binary was built without the `failpoints` tag.
func Disarm(name Name) error { return errNotBuilt(name) }

// Status returns nothing: this binary was built without the `failpoints` tag.
func Status() map[Name]string { return nil }

func errNotBuilt(name Name) error { return fmt.Errorf("%s: %w", name, ErrNotBuilt) }
