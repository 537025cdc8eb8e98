package failpoint

import "errors"

// ErrNotBuilt is returned by Arm and Disarm in a binary built without the `failpoints` tag.
var ErrNotBuilt = errors.New("failpoint: binary built without the failpoints tag")
