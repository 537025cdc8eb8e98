package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// defaultWatchTimeout bounds a watch without timeoutSeconds (Kubernetes picks 30-60 min).
const defaultWatchTimeout = 30 * time.Minute

// initialEventsEnd is the bookmark annotation that ends the initial events of a watch with
// sendInitialEvents=true.
const initialEventsEnd = "k8s.io/initial-events-end"

// watch streams metav1.WatchEvents from a store watch of the resource's prefix. Without a
// resourceVersion (or "0") it first sends the current objects as ADDED events; with one it
// starts right after it. A compacted start revision ends the stream with an ERROR event
// holding a 410 Expired Status.
func (h *handler) watch() {
	f, err := h.filter()
	if err != nil {
		h.fail(err)
		return
	}
	timeout := defaultWatchTimeout
	if v := h.q.Get("timeoutSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			h.fail(errBadRequest("invalid timeoutSeconds %q", v))
			return
		}
		timeout = time.Duration(n) * time.Second
	}
	bookmarks := h.q.Get("allowWatchBookmarks") == "true" || h.q.Get("allowWatchBookmarks") == "1"
	sendInitial := h.q.Get("sendInitialEvents") == "true"
	rv := h.q.Get("resourceVersion")
	if sendInitial && h.q.Get("resourceVersionMatch") != "NotOlderThan" {
		h.fail(errInvalidOptions("sendInitialEvents", "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan"))
		return
	}
	ctx, cancel := context.WithTimeout(h.r.Context(), timeout)
	defer cancel()

	var initial []api.Object
	var start int64
	if rv == "" || rv == "0" || sendInitial {
		l, err := h.g.List(ctx, registry.ListOptions{Namespace: h.rq.namespace})
		if err != nil {
			h.fail(err)
			return
		}
		for _, o := range l.Items {
			if f.matches(o) {
				initial = append(initial, o)
			}
		}
		start = l.Revision + 1
	} else {
		n, err := strconv.ParseInt(rv, 10, 64)
		if err != nil || n < 0 {
			h.fail(errBadRequest("invalid resource version: %q", rv))
			return
		}
		start = n + 1
	}
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(start), clientv3.WithPrevKV()}
	if bookmarks {
		opts = append(opts, clientv3.WithProgressNotify())
	}
	wch := h.s.cfg.Client.Watch(clientv3.WithRequireLeader(ctx), h.g.NamespacePrefix(h.rq.namespace), opts...)

	table := h.tableRequested()
	h.w.Header().Set("Content-Type", "application/json")
	h.w.Header().Set("Transfer-Encoding", "chunked")
	h.w.WriteHeader(http.StatusOK)
	flusher, _ := h.w.(http.Flusher)
	enc := json.NewEncoder(h.w)
	send := func(typ string, obj any) bool {
		var raw []byte
		var err error
		if o, ok := obj.(api.Object); ok && table && typ != "BOOKMARK" {
			t, terr := h.table([]api.Object{o}, metav1.ListMeta{ResourceVersion: o.Meta().ResourceVersion})
			if terr != nil {
				return false
			}
			raw, err = json.Marshal(t)
		} else {
			if o, ok := obj.(api.Object); ok {
				api.SetTypeMeta(o)
			}
			raw, err = json.Marshal(obj)
		}
		if err != nil {
			return false
		}
		if err := enc.Encode(metav1.WatchEvent{Type: typ, Object: runtime.RawExtension{Raw: raw}}); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	for _, o := range initial {
		if !send("ADDED", o) {
			return
		}
	}
	if sendInitial {
		if !send("BOOKMARK", h.bookmark(start-1, true)) {
			return
		}
	}
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	flush()
	for resp := range wch {
		if resp.CompactRevision != 0 {
			st := errGone(fmt.Sprintf("too old resource version: %d (%d)", start-1, resp.CompactRevision))
			send("ERROR", &st.s)
			return
		}
		if err := resp.Err(); err != nil {
			st := newStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
			send("ERROR", &st.s)
			return
		}
		if resp.IsProgressNotify() {
			if bookmarks && !send("BOOKMARK", h.bookmark(resp.Header.Revision, false)) {
				return
			}
			continue
		}
		for _, ev := range resp.Events {
			var cur, prev api.Object
			if ev.Type == clientv3.EventTypePut {
				if cur, err = h.g.Decode(ev.Kv); err != nil {
					continue
				}
			}
			if ev.PrevKv != nil {
				if prev, err = h.g.Decode(ev.PrevKv); err != nil {
					prev = nil
				}
			}
			curIn := cur != nil && f.matches(cur)
			prevIn := prev != nil && f.matches(prev)
			var ok bool
			switch {
			case curIn && prevIn:
				ok = send("MODIFIED", cur)
			case curIn:
				ok = send("ADDED", cur)
			case prevIn:
				prev.Meta().ResourceVersion = strconv.FormatInt(ev.Kv.ModRevision, 10)
				ok = send("DELETED", prev)
			default:
				continue
			}
			if !ok {
				return
			}
		}
	}
}

// bookmark is the object of a BOOKMARK event: only kind, apiVersion and resourceVersion.
func (h *handler) bookmark(rev int64, initialEnd bool) any {
	m := map[string]any{"resourceVersion": strconv.FormatInt(rev, 10)}
	if initialEnd {
		m["annotations"] = map[string]string{initialEventsEnd: "true"}
	}
	return map[string]any{"kind": h.res.Kind, "apiVersion": h.res.APIVersion, "metadata": m}
}
