package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/authz"
	"github.com/keeldb/keel/orchestrator/rbac"
	"github.com/keeldb/keel/orchestrator/registry"
)

// scaleOf returns the autoscaling/v1 Scale of a workload, read from its JSON form.
func scaleOf(obj api.Object) (*autoscalingv1.Scale, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Spec struct {
			Replicas *int32          `json:"replicas"`
			Selector json.RawMessage `json:"selector"`
		} `json:"spec"`
		Status struct {
			Replicas int32 `json:"replicas"`
		} `json:"status"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	m := obj.Meta()
	sc := &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: types.UID(m.UID),
			ResourceVersion: m.ResourceVersion, CreationTimestamp: metav1.NewTime(m.CreationTimestamp.Time)},
		Status: autoscalingv1.ScaleStatus{Replicas: doc.Status.Replicas},
	}
	sc.Spec.Replicas = 1
	if doc.Spec.Replicas != nil {
		sc.Spec.Replicas = *doc.Spec.Replicas
	}
	if len(doc.Spec.Selector) > 0 && string(doc.Spec.Selector) != "null" {
		var ls metav1.LabelSelector
		var set map[string]string
		if obj.TypeInfo().Kind == "ReplicationController" {
			if err := json.Unmarshal(doc.Spec.Selector, &set); err == nil {
				sc.Status.Selector = labels.SelectorFromSet(set).String()
			}
		} else if err := json.Unmarshal(doc.Spec.Selector, &ls); err == nil {
			if sel, err := metav1.LabelSelectorAsSelector(&ls); err == nil {
				sc.Status.Selector = sel.String()
			}
		}
	}
	return sc, nil
}

// withReplicas returns a copy of obj with spec.replicas set to n.
func (h *handler) withReplicas(obj api.Object, n int32) (api.Object, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	spec, _ := doc["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
		doc["spec"] = spec
	}
	spec["replicas"] = n
	if b, err = json.Marshal(doc); err != nil {
		return nil, err
	}
	out := h.g.New()
	if err := json.Unmarshal(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (h *handler) serveScale() {
	ctx := h.r.Context()
	cur, err := h.g.Get(ctx, h.rq.namespace, h.rq.name)
	if err != nil {
		h.fail(err)
		return
	}
	api.SetTypeMeta(cur)
	sc, err := scaleOf(cur)
	if err != nil {
		h.fail(err)
		return
	}
	var want *autoscalingv1.Scale
	switch h.r.Method {
	case http.MethodGet:
		writeJSON(h.w, http.StatusOK, sc)
		return
	case http.MethodPut:
		b, _, err := h.readBody("application/json")
		if err != nil {
			h.fail(err)
			return
		}
		want = &autoscalingv1.Scale{}
		if err := decodeV1("Scale", b, want); err != nil {
			h.fail(err)
			return
		}
	case http.MethodPatch:
		b, pt, err := h.readBody(jsonPatchType, mergePatchType, strategicPatchType)
		if err != nil {
			h.fail(err)
			return
		}
		cb, _ := json.Marshal(sc)
		out, err := applyPatch(pt, cb, b, &autoscalingv1.Scale{})
		if err != nil {
			h.fail(err)
			return
		}
		want = &autoscalingv1.Scale{}
		if err := decodeV1("Scale", out, want); err != nil {
			h.fail(err)
			return
		}
	default:
		writeStatus(h.w, errMethodNotAllowed(h.r.Method))
		return
	}
	if want.Name != "" && want.Name != h.rq.name {
		h.fail(errBadRequest("the name of the object (%s) does not match the name on the URL (%s)", want.Name, h.rq.name))
		return
	}
	if want.Spec.Replicas < 0 {
		e := errInvalid(api.Resource{Kind: "Scale"}, h.rq.name, api.ErrorList{{Field: "spec.replicas", Type: api.ErrorInvalid, Value: want.Spec.Replicas, Detail: "must be greater than or equal to 0"}})
		e.s.Details.Group = "autoscaling"
		writeStatus(h.w, e)
		return
	}
	for {
		next, err := h.withReplicas(cur, want.Spec.Replicas)
		if err != nil {
			h.fail(err)
			return
		}
		if want.ResourceVersion != "" {
			next.Meta().ResourceVersion = want.ResourceVersion
		}
		dry, err := h.dryRun(h.q["dryRun"])
		if err != nil {
			h.fail(err)
			return
		}
		out, err := h.write(next, false, dry)
		if errors.Is(err, registry.ErrConflict) && want.ResourceVersion == "" && ctx.Err() == nil {
			if cur, err = h.g.Get(ctx, h.rq.namespace, h.rq.name); err != nil {
				h.fail(err)
				return
			}
			continue
		}
		if err != nil {
			h.fail(err)
			return
		}
		api.SetTypeMeta(out)
		sc, err := scaleOf(out)
		if err != nil {
			h.fail(err)
			return
		}
		writeJSON(h.w, http.StatusOK, sc)
		return
	}
}

// defaultContainerAnnotation names the container kubectl logs picks when none is given.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// serveLog proxies pods/log to the agent of the pod's node (kubelet's /containerLogs).
func (h *handler) serveLog() {
	if h.r.Method != http.MethodGet {
		writeStatus(h.w, errMethodNotAllowed(h.r.Method))
		return
	}
	ctx := h.r.Context()
	obj, err := h.g.Get(ctx, h.rq.namespace, h.rq.name)
	if err != nil {
		h.fail(err)
		return
	}
	p := obj.(*api.Pod)
	container := h.q.Get("container")
	if container == "" {
		var names []string
		for _, c := range p.Spec.Containers {
			names = append(names, c.Name)
		}
		switch {
		case p.Annotations[defaultContainerAnnotation] != "":
			container = p.Annotations[defaultContainerAnnotation]
		case len(names) == 1:
			container = names[0]
		default:
			h.fail(errBadRequest("a container name must be specified for pod %s, choose one of: [%s]", p.Name, strings.Join(names, " ")))
			return
		}
	}
	found := false
	for _, c := range append(append([]api.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		found = found || c.Name == container
	}
	if !found {
		h.fail(errBadRequest("container %s is not valid for pod %s", container, p.Name))
		return
	}
	if p.Spec.NodeName == "" {
		h.fail(errBadRequest("pod %s does not have a host assigned", p.Name))
		return
	}
	nobj, err := h.s.gens["nodes"].Get(ctx, "", p.Spec.NodeName)
	if err != nil {
		h.fail(err)
		return
	}
	host, err := agentAddress(nobj.(*api.Node))
	if err != nil {
		h.fail(errBadRequest("%v", err))
		return
	}
	q := url.Values{}
	for _, k := range []string{"follow", "tailLines", "previous", "timestamps", "sinceSeconds", "limitBytes"} {
		if v := h.q.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	u := url.URL{Scheme: "http", Host: host, RawQuery: q.Encode(), Path: "/containerLogs/" + p.Namespace + "/" + p.Name + "/" + container}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		h.fail(err)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.fail(newStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError, fmt.Sprintf("Get %q: %v", u.String(), err)))
		return
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		h.fail(errBadRequest("%s", strings.TrimSpace(string(body))))
		return
	}
	h.w.Header().Set("Content-Type", "text/plain")
	h.w.WriteHeader(http.StatusOK)
	flusher, _ := h.w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := h.w.Write(buf[:n]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// agentAddress is the host:port of a node's agent: its InternalIP and kubelet endpoint port.
func agentAddress(n *api.Node) (string, error) {
	var ip string
	for _, a := range n.Status.Addresses {
		if a.Type == "InternalIP" {
			ip = a.Address
			break
		}
	}
	port := n.Status.DaemonEndpoints.KubeletEndpoint.Port
	if ip == "" || port == 0 {
		return "", fmt.Errorf("node %q reports no agent endpoint; its agent serves no logs", n.Name)
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(port))), nil
}

// serveEviction deletes a pod gracefully on a policy/v1 Eviction (no PodDisruptionBudgets yet).
func (h *handler) serveEviction() {
	if h.r.Method != http.MethodPost {
		writeStatus(h.w, errMethodNotAllowed(h.r.Method))
		return
	}
	b, _, err := h.readBody("application/json")
	if err != nil {
		h.fail(err)
		return
	}
	var ev policyv1.Eviction
	if err := decodeV1("Eviction", b, &ev); err != nil {
		h.fail(err)
		return
	}
	if ev.Name != h.rq.name {
		h.fail(errBadRequest("name in URL does not match name in Eviction object"))
		return
	}
	var o metav1.DeleteOptions
	if ev.DeleteOptions != nil {
		o = *ev.DeleteOptions
	}
	o.DryRun = append(o.DryRun, h.q["dryRun"]...)
	if _, _, err := h.deleteOne(h.rq.namespace, h.rq.name, o); err != nil {
		h.fail(err)
		return
	}
	writeJSON(h.w, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

// serveBinding binds an unbound pod to a node (pods/binding), as the scheduler does.
func (h *handler) serveBinding() {
	if h.r.Method != http.MethodPost {
		writeStatus(h.w, errMethodNotAllowed(h.r.Method))
		return
	}
	b, _, err := h.readBody("application/json")
	if err != nil {
		h.fail(err)
		return
	}
	var bd corev1.Binding
	if err := decodeV1("Binding", b, &bd); err != nil {
		h.fail(err)
		return
	}
	if bd.Name != "" && bd.Name != h.rq.name {
		h.fail(errBadRequest("name in URL does not match name in Binding object"))
		return
	}
	if bd.Target.Name == "" {
		h.fail(errInvalid(api.Resource{Kind: "Binding"}, h.rq.name, api.ErrorList{{Field: "target.name", Type: api.ErrorRequired}}))
		return
	}
	now := api.NewTime(h.s.cfg.Now())
	_, err = h.g.GuaranteedUpdate(h.r.Context(), h.rq.namespace, h.rq.name, func(cur api.Object) (api.Object, error) {
		p := cur.(*api.Pod)
		if bd.UID != "" && string(bd.UID) != p.UID {
			return nil, errConflict(h.res, h.rq.name)
		}
		if p.DeletionTimestamp != nil {
			return nil, withDetails(newStatus(http.StatusConflict, metav1.StatusReasonConflict,
				fmt.Sprintf("Operation cannot be fulfilled on pods/binding %q: pod %s is being deleted, cannot be assigned to a host", p.Name, p.Name)), h.res, p.Name)
		}
		if p.Spec.NodeName != "" {
			return nil, withDetails(newStatus(http.StatusConflict, metav1.StatusReasonConflict,
				fmt.Sprintf("Operation cannot be fulfilled on pods/binding %q: pod %s is already assigned to node %q", p.Name, p.Name, p.Spec.NodeName)), h.res, p.Name)
		}
		p.Spec.NodeName = bd.Target.Name
		setScheduled(p, now)
		return p, nil
	})
	if err != nil {
		h.fail(err)
		return
	}
	writeJSON(h.w, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

func setScheduled(p *api.Pod, now api.Time) {
	for i, c := range p.Status.Conditions {
		if c.Type == "PodScheduled" {
			p.Status.Conditions[i].Status = api.ConditionTrue
			p.Status.Conditions[i].LastTransitionTime = now
			return
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, api.PodCondition{Type: "PodScheduled", Status: api.ConditionTrue, LastTransitionTime: now})
}

// selfSubjectAccessReview answers `kubectl auth can-i`: whether the requesting user may do
// what the review's spec names, as the authorizer decides.
func (s *Server) selfSubjectAccessReview(w http.ResponseWriter, r *http.Request) {
	var rev authorizationv1.SelfSubjectAccessReview
	if !readReview(w, r, "SelfSubjectAccessReview", &rev) {
		return
	}
	ra, nra := rev.Spec.ResourceAttributes, rev.Spec.NonResourceAttributes
	if (ra == nil) == (nra == nil) {
		e := newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid,
			"SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified")
		writeStatus(w, e)
		return
	}
	if rbacAuthz, ok := s.cfg.Authorizer.(*rbac.Authorizer); ok {
		st, err := rbac.Review(r.Context(), rbacAuthz, userOf(r.Context()), rev.Spec)
		if err != nil {
			writeStatus(w, toStatus(err, api.Resource{Kind: "SelfSubjectAccessReview"}, ""))
			return
		}
		rev.Status = st
		rev.TypeMeta = metav1.TypeMeta{Kind: "SelfSubjectAccessReview", APIVersion: authorizationGV}
		writeJSON(w, http.StatusCreated, &rev)
		return
	}
	a := authz.Attributes{User: userOf(r.Context())}
	if ra != nil {
		a.ResourceRequest, a.Verb, a.APIGroup, a.APIVersion = true, ra.Verb, ra.Group, ra.Version
		a.Resource, a.Subresource, a.Namespace, a.Name = ra.Resource, ra.Subresource, ra.Namespace, ra.Name
	} else {
		a.Verb, a.Path = nra.Verb, nra.Path
	}
	d, reason, err := s.cfg.Authorizer.Authorize(context.WithoutCancel(r.Context()), a)
	rev.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: d == authz.DecisionAllow, Denied: d == authz.DecisionDeny, Reason: reason}
	if err != nil {
		rev.Status.EvaluationError = err.Error()
	}
	rev.TypeMeta = metav1.TypeMeta{Kind: "SelfSubjectAccessReview", APIVersion: authorizationGV}
	writeJSON(w, http.StatusCreated, &rev)
}

// selfSubjectReview answers `kubectl auth whoami`: the requesting user as authenticated.
func (s *Server) selfSubjectReview(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeStatus(w, errMethodNotAllowed(r.Method))
		return
	}
	u := userOf(r.Context())
	rev := authenticationv1.SelfSubjectReview{
		TypeMeta: metav1.TypeMeta{Kind: "SelfSubjectReview", APIVersion: authenticationGV},
		Status:   authenticationv1.SelfSubjectReviewStatus{UserInfo: authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}},
	}
	writeJSON(w, http.StatusCreated, &rev)
}

// selfSubjectRulesReview answers `kubectl auth can-i --list`: the rules the requesting user
// holds in a namespace, as RBAC grants them.
func (s *Server) selfSubjectRulesReview(w http.ResponseWriter, r *http.Request, a *rbac.Authorizer) {
	var rev authorizationv1.SelfSubjectRulesReview
	if !readReview(w, r, "SelfSubjectRulesReview", &rev) {
		return
	}
	st, err := rbac.RulesReview(r.Context(), a, userOf(r.Context()), rev.Spec)
	if err != nil {
		writeStatus(w, toStatus(err, api.Resource{Kind: "SelfSubjectRulesReview"}, ""))
		return
	}
	rev.Status = st
	rev.TypeMeta = metav1.TypeMeta{Kind: "SelfSubjectRulesReview", APIVersion: authorizationGV}
	writeJSON(w, http.StatusCreated, &rev)
}

// readReview decodes the body of a POSTed review (JSON, or protobuf as client-go's typed
// clients send it) of kind into rev. It answers the error itself and returns false on a
// method other than POST or a body that does not decode.
func readReview(w http.ResponseWriter, r *http.Request, kind string, rev any) bool {
	if r.Method != http.MethodPost {
		writeStatus(w, errMethodNotAllowed(r.Method))
		return false
	}
	b, _, err := readBody(r, "application/json")
	if err == nil {
		err = decodeV1(kind, b, rev)
	}
	if err != nil {
		writeStatus(w, toStatus(err, api.Resource{Kind: kind}, ""))
		return false
	}
	return true
}
