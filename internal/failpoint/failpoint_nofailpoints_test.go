//go:build !failpoints

package failpoint_test

import (
	"errors"
	"testing"

	"github.com/keeldb/keel/internal/failpoint"
)

func TestWithoutTagEverythingIsOff(t *testing.T) {
	if failpoint.Enabled {
		t.Fatal("Enabled = true without the failpoints tag")
	}
	for _, n := range failpoint.All() {
		failpoint.Inject(n) // must not panic or block
		if err := failpoint.Arm(n, "panic"); !errors.Is(err, failpoint.ErrNotBuilt) {
			t.Errorf("Arm(%s) = %v, want ErrNotBuilt", n, err)
		}
	}
	if got := failpoint.Status(); len(got) != 0 {
		t.Errorf("Status() = %v, want empty", got)
	}
}
