package bench

import (
	"context"
	"errors"
)

// authenticateWorkload measures Authenticate: each unit checks Config.Username's password
// (bcrypt on the serving member) and gets a token through the raft log, as `etcdctl --user`
// does once per command. It needs a cluster with auth enabled and keelbench --user.
type authenticateWorkload struct {
	user, password string
}

func newAuthenticate(Params) Workload { return &authenticateWorkload{} }

func (w *authenticateWorkload) Setup(_ context.Context, s *Session) error {
	if s.Config.Username == "" {
		return errors.New("the auth workload needs --user name:password")
	}
	w.user, w.password = s.Config.Username, s.Config.Password
	return nil
}

func (w *authenticateWorkload) Do(ctx context.Context, wk *Worker) {
	_ = wk.Time(ctx, "authenticate", func(ctx context.Context) error {
		_, err := wk.Client.Authenticate(ctx, w.user, w.password)
		return err
	})
}
