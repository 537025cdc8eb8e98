package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/rbac"
	"github.com/keeldb/keel/orchestrator/registry"
)

// maxBody bounds a request body (Kubernetes' limit is 3 MiB).
const maxBody = 3 << 20

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, rq request) {
	if rq.gv == authorizationGV && rq.resource == "selfsubjectaccessreviews" && rq.name == "" {
		s.selfSubjectAccessReview(w, r)
		return
	}
	if rq.gv == authorizationGV && rq.resource == "selfsubjectrulesreviews" && rq.name == "" {
		if a, ok := s.cfg.Authorizer.(*rbac.Authorizer); ok {
			s.selfSubjectRulesReview(w, r, a)
			return
		}
	}
	if rq.gv == authenticationGV && rq.resource == "selfsubjectreviews" && rq.name == "" {
		s.selfSubjectReview(w, r)
		return
	}
	g, ok := s.byGV[rq.gv][rq.resource]
	if !ok {
		writeStatus(w, newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource"))
		return
	}
	res := g.Resource()
	res.Name = rq.resource // the served name, in messages
	if !res.Namespaced {
		if rq.resource != "namespaces" && rq.namespace != "" {
			writeStatus(w, newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource"))
			return
		}
		if rq.resource == "namespaces" {
			rq.namespace = ""
		}
	}
	if !acceptable(r) {
		writeStatus(w, newStatus(http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable,
			"only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io"))
		return
	}
	h := &handler{s: s, g: g, res: res, rq: rq, w: w, r: r, q: r.URL.Query()}
	switch rq.subresource {
	case "":
		h.serveMain()
	case "status":
		if !res.HasStatus {
			break
		}
		h.serveStatus()
		return
	case "scale":
		if !hasScale[res.Kind] {
			break
		}
		h.serveScale()
		return
	case "log", "eviction", "binding":
		if res.Kind != "Pod" {
			break
		}
		switch rq.subresource {
		case "log":
			h.serveLog()
		case "eviction":
			h.serveEviction()
		case "binding":
			h.serveBinding()
		}
		return
	default:
	}
	if rq.subresource != "" {
		writeStatus(w, newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource"))
	}
}

// handler serves one resource request.
type handler struct {
	s   *Server
	g   registry.Generic
	res api.Resource
	rq  request
	w   http.ResponseWriter
	r   *http.Request
	q   url.Values
	// tracked: the object's managedFields are already set (an apply); write keeps them.
	tracked bool
}

func (h *handler) fail(err error) {
	st := toStatus(err, h.res, h.rq.name)
	if st.s.Code >= 500 {
		h.s.cfg.Logger.Warn("request failed", "method", h.r.Method, "path", h.r.URL.Path, "err", err)
	}
	writeStatus(h.w, st)
}

func (h *handler) serveMain() {
	switch {
	case h.r.Method == http.MethodGet && h.rq.name != "":
		h.get()
	case h.r.Method == http.MethodGet && h.rq.verb == "watch":
		h.watch()
	case h.r.Method == http.MethodGet:
		h.list()
	case h.r.Method == http.MethodPost && h.rq.name == "":
		h.create()
	case h.r.Method == http.MethodPut && h.rq.name != "":
		h.update(false)
	case h.r.Method == http.MethodPatch && h.rq.name != "":
		h.patch(false)
	case h.r.Method == http.MethodDelete && h.rq.name != "":
		h.delete()
	case h.r.Method == http.MethodDelete:
		h.deleteCollection()
	default:
		writeStatus(h.w, errMethodNotAllowed(h.r.Method))
	}
}

func (h *handler) serveStatus() {
	switch h.r.Method {
	case http.MethodGet:
		h.get()
	case http.MethodPut:
		h.update(true)
	case http.MethodPatch:
		h.patch(true)
	default:
		writeStatus(h.w, errMethodNotAllowed(h.r.Method))
	}
}

// acceptable tells whether the Accept header allows a JSON answer.
func acceptable(r *http.Request) bool {
	a := r.Header.Get("Accept")
	if a == "" {
		return true
	}
	for _, part := range strings.Split(a, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json", "*/*", "application/*", "application/json-seq", "application/yaml":
			return true
		}
	}
	return false
}

// writeObject answers obj, as a Table when asked for.
func (h *handler) writeObject(code int, obj api.Object) {
	api.SetTypeMeta(obj)
	if h.tableRequested() {
		t, err := h.table([]api.Object{obj}, metav1.ListMeta{ResourceVersion: obj.Meta().ResourceVersion})
		if err != nil {
			h.fail(err)
			return
		}
		writeJSON(h.w, code, t)
		return
	}
	writeJSON(h.w, code, obj)
}

func (h *handler) get() {
	obj, err := h.g.Get(h.r.Context(), h.rq.namespace, h.rq.name)
	if err != nil {
		h.fail(err)
		return
	}
	h.writeObject(http.StatusOK, obj)
}

// listResult is a Kubernetes list ("PodList").
type listResult struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ListMeta `json:"metadata"`
	Items           []api.Object    `json:"items"`
}

// listOptions parses a list's resourceVersion, resourceVersionMatch, limit and continue.
func (h *handler) listOptions() (registry.ListOptions, int64, error) {
	opts := registry.ListOptions{Namespace: h.rq.namespace, Continue: h.q.Get("continue")}
	if l := h.q.Get("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			return opts, 0, errBadRequest("invalid limit %q", l)
		}
		opts.Limit = n
	}
	rv, match := h.q.Get("resourceVersion"), h.q.Get("resourceVersionMatch")
	var notOlder int64
	switch match {
	case "", "NotOlderThan", "Exact":
	default:
		return opts, 0, errBadRequest("resourceVersionMatch: Unsupported value: %q: supported values: \"Exact\", \"NotOlderThan\"", match)
	}
	if match != "" && rv == "" {
		return opts, 0, errInvalidOptions("resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided")
	}
	if opts.Continue != "" && rv != "" && rv != "0" {
		return opts, 0, errInvalidOptions("resourceVersion", "specifying resource version is not allowed when using continue")
	}
	if rv != "" && rv != "0" {
		n, err := strconv.ParseInt(rv, 10, 64)
		if err != nil || n < 0 {
			return opts, 0, errBadRequest("invalid resource version: %q", rv)
		}
		if match == "Exact" || (match == "" && opts.Limit > 0 && opts.Continue == "") {
			// An exact read; a limited list at a given resourceVersion is one too (Kubernetes'
			// legacy semantics for paging from a revision).
			opts.Revision = n
		} else {
			notOlder = n
		}
	} else if rv == "0" && match == "Exact" {
		return opts, 0, errInvalidOptions("resourceVersionMatch", "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")
	}
	return opts, notOlder, nil
}

func errInvalidOptions(field, detail string) *statusError {
	e := newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, "ListOptions.meta.k8s.io \"\" is invalid: "+field+": Forbidden: "+detail)
	e.s.Details = &metav1.StatusDetails{Group: "meta.k8s.io", Kind: "ListOptions",
		Causes: []metav1.StatusCause{{Type: "FieldValueForbidden", Message: "Forbidden: " + detail, Field: field}}}
	return e
}

// page reads one page of the list the request asks for, filtered by its selectors.
func (h *handler) page() (*registry.List[api.Object], error) {
	f, err := h.filter()
	if err != nil {
		return nil, err
	}
	opts, notOlder, err := h.listOptions()
	if err != nil {
		return nil, err
	}
	l, err := h.g.List(h.r.Context(), opts)
	if err != nil {
		if errors.Is(err, registry.ErrExpired) && opts.Continue != "" {
			return nil, errGone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
		}
		if errors.Is(err, registry.ErrExpired) {
			return nil, errGone("The resourceVersion for the provided list is too old.")
		}
		if errors.Is(err, api.ErrInvalid) && opts.Continue != "" {
			return nil, errBadRequest("continue key is not valid: %v", err)
		}
		return nil, err
	}
	if notOlder > l.Revision {
		return nil, newStatus(http.StatusGatewayTimeout, metav1.StatusReasonTimeout,
			fmt.Sprintf("Too large resource version: %d, current: %d", notOlder, l.Revision))
	}
	items := l.Items[:0]
	for _, o := range l.Items {
		if f.matches(o) {
			items = append(items, o)
		}
	}
	l.Items = items
	return l, nil
}

func (h *handler) list() {
	l, err := h.page()
	if err != nil {
		h.fail(err)
		return
	}
	meta := metav1.ListMeta{ResourceVersion: strconv.FormatInt(l.Revision, 10), Continue: l.Continue}
	if h.tableRequested() {
		t, err := h.table(l.Items, meta)
		if err != nil {
			h.fail(err)
			return
		}
		writeJSON(h.w, http.StatusOK, t)
		return
	}
	for _, o := range l.Items {
		api.SetTypeMeta(o)
	}
	if l.Items == nil {
		l.Items = []api.Object{}
	}
	writeJSON(h.w, http.StatusOK, &listResult{TypeMeta: metav1.TypeMeta{Kind: h.res.Kind + "List", APIVersion: h.res.APIVersion}, Metadata: meta, Items: l.Items})
}

// readBody reads the request's body of one of the media types given.
func (h *handler) readBody(types ...string) ([]byte, string, error) { return readBody(h.r, types...) }

// readBody reads r's body of one of the media types given (a protobuf body, as client-go's
// typed clients send, is accepted for JSON and returned as JSON).
func readBody(r *http.Request, types ...string) ([]byte, string, error) {
	ct := r.Header.Get("Content-Type")
	mt := "application/json"
	if ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return nil, "", newStatus(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType, fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s", strings.Join(types, ", ")))
		}
	}
	ok := false
	for _, t := range types {
		ok = ok || t == mt || mt == protobufType && t == "application/json"
	}
	if !ok {
		return nil, "", newStatus(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
			fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s", strings.Join(types, ", ")))
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, "", errBadRequest("read body: %v", err)
	}
	if len(b) > maxBody {
		return nil, "", newStatus(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge, "Request entity too large: limit is 3145728")
	}
	if mt == protobufType {
		if b, err = protobufToJSON(b); err != nil {
			return nil, "", errBadRequest("decode protobuf body: %v", err)
		}
		mt = "application/json"
	}
	return b, mt, nil
}

// decode decodes an object of the handler's kind, honouring fieldValidation: Strict refuses
// unknown fields (BadRequest), Warn (the default) answers a Warning header for each, Ignore
// drops them.
func (h *handler) decode(b []byte) (api.Object, error) {
	var tm metav1.TypeMeta
	if err := json.Unmarshal(b, &tm); err != nil {
		return nil, errBadRequest("%s in version %q cannot be handled as a %s: %v", h.res.Kind, versionOf(h.res.APIVersion), h.res.Kind, err)
	}
	if tm.Kind != "" && tm.Kind != h.res.Kind || tm.APIVersion != "" && tm.APIVersion != h.res.APIVersion {
		return nil, errBadRequest("the API version in the data (%s) does not match the expected API version (%s)", tm.APIVersion, h.res.APIVersion)
	}
	fv := h.q.Get("fieldValidation")
	switch fv {
	case "", "Warn", "Strict", "Ignore":
	default:
		return nil, errBadRequest("fieldValidation: Unsupported value: %q: supported values: \"Ignore\", \"Strict\", \"Warn\"", fv)
	}
	obj := h.g.New()
	err := api.DecodeStrict(b, obj)
	var errs api.ErrorList
	if err != nil && !errors.As(err, &errs) {
		return nil, errBadRequest("%s in version %q cannot be handled as a %s: %v", h.res.Kind, versionOf(h.res.APIVersion), h.res.Kind, err)
	}
	var unknown []string
	for _, fe := range errs {
		if fe.Type != api.ErrorUnknownField {
			return nil, errBadRequest("%s in version %q cannot be handled as a %s: %v", h.res.Kind, versionOf(h.res.APIVersion), h.res.Kind, fe)
		}
		unknown = append(unknown, fmt.Sprintf("unknown field %q", fe.Field))
	}
	if len(unknown) > 0 {
		switch fv {
		case "Strict":
			return nil, errBadRequest("strict decoding error: %s", strings.Join(unknown, ", "))
		case "", "Warn":
			for _, u := range unknown {
				h.w.Header().Add("Warning", "299 - "+strconv.Quote(u))
			}
		}
		obj = h.g.New()
		if err := json.Unmarshal(b, obj); err != nil {
			return nil, errBadRequest("%s in version %q cannot be handled as a %s: %v", h.res.Kind, versionOf(h.res.APIVersion), h.res.Kind, err)
		}
	}
	api.SetTypeMeta(obj)
	return obj, nil
}

// dryRun tells whether the request asks for a dry run (dryRun=All); another value is an error.
func (h *handler) dryRun(vals []string) (bool, error) {
	for _, v := range vals {
		if v != "All" {
			return false, errBadRequest("dryRun: Unsupported value: %q: supported values: \"All\"", v)
		}
	}
	return len(vals) > 0, nil
}

func (h *handler) create() {
	b, _, err := h.readBody("application/json")
	if err != nil {
		h.fail(err)
		return
	}
	obj, err := h.decode(b)
	if err != nil {
		h.fail(err)
		return
	}
	m := obj.Meta()
	if h.res.Namespaced {
		if m.Namespace == "" {
			m.Namespace = h.rq.namespace
		} else if m.Namespace != h.rq.namespace {
			h.fail(errBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
			return
		}
	} else {
		m.Namespace = ""
	}
	if m.Name == "" && m.GenerateName == "" {
		h.fail(errInvalid(h.res, "", api.ErrorList{{Field: "metadata.name", Type: api.ErrorRequired, Detail: "name or generateName is required"}}))
		return
	}
	h.rq.name = m.Name
	dry, err := h.dryRun(h.q["dryRun"])
	if err != nil {
		h.fail(err)
		return
	}
	out, err := h.createObject(obj, dry)
	if err != nil {
		h.fail(err)
		return
	}
	h.writeObject(http.StatusCreated, out)
}

// createObject admits obj (namespace lifecycle, RBAC escalation), records its manager's
// fields and creates it, or with dry only checks it.
func (h *handler) createObject(obj api.Object, dry bool) (api.Object, error) {
	m := obj.Meta()
	if h.res.Namespaced && h.res.Kind != "Namespace" {
		if err := h.namespaceActive(m.Namespace); err != nil {
			return nil, err
		}
	}
	if err := h.s.checkEscalation(h.r.Context(), obj); err != nil {
		return nil, err
	}
	if !h.tracked {
		if err := h.track(nil, obj, ""); err != nil {
			return nil, err
		}
	}
	if dry {
		return h.dryRunCreate(obj)
	}
	return h.g.Create(h.r.Context(), obj)
}

// namespaceActive is the NamespaceLifecycle admission: objects are not created in a namespace
// that does not exist or is terminating.
func (h *handler) namespaceActive(ns string) error {
	nsg := h.s.gens["namespaces"]
	obj, err := nsg.Get(h.r.Context(), "", ns)
	if errors.Is(err, registry.ErrNotFound) {
		return errNotFound(nsg.Resource(), ns)
	}
	if err != nil {
		return err
	}
	if obj.Meta().DeletionTimestamp != nil {
		return newStatus(http.StatusForbidden, metav1.StatusReasonForbidden,
			fmt.Sprintf("%s %q is forbidden: unable to create new content in namespace %s because it is being terminated", h.res.Name, h.rq.name, ns))
	}
	return nil
}

// dryRunCreate defaults and validates obj as Create would, without writing it.
func (h *handler) dryRunCreate(obj api.Object) (api.Object, error) {
	m := obj.Meta()
	if m.ResourceVersion != "" {
		return nil, errInvalid(h.res, m.Name, api.ErrorList{{Field: "metadata.resourceVersion", Type: api.ErrorForbidden, Detail: "must not be set on create"}})
	}
	if m.Name == "" {
		m.Name = m.GenerateName + "dryrun"
	}
	api.Default(obj)
	if errs := api.Validate(obj); len(errs) > 0 {
		return nil, errInvalid(h.res, m.Name, errs)
	}
	if _, err := h.g.Get(h.r.Context(), m.Namespace, m.Name); err == nil {
		return nil, errAlreadyExists(h.res, m.Name)
	} else if !errors.Is(err, registry.ErrNotFound) {
		return nil, err
	}
	m.CreationTimestamp = api.NewTime(h.s.cfg.Now())
	m.Generation = 1
	return obj, nil
}

// decodeObject decodes a body that must name the object of the URL (update, patch, apply).
func (h *handler) decodeObject(b []byte) (api.Object, error) {
	obj, err := h.decode(b)
	if err != nil {
		return nil, err
	}
	if err := h.checkIdentity(obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// checkIdentity checks that a body names the object of the URL.
func (h *handler) checkIdentity(obj api.Object) error {
	m := obj.Meta()
	if m.Name != h.rq.name {
		return errBadRequest("the name of the object (%s) does not match the name on the URL (%s)", m.Name, h.rq.name)
	}
	if h.res.Namespaced {
		if m.Namespace == "" {
			m.Namespace = h.rq.namespace
		} else if m.Namespace != h.rq.namespace {
			return errBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.Namespace = ""
	}
	return nil
}

func (h *handler) update(status bool) {
	b, _, err := h.readBody("application/json")
	if err != nil {
		h.fail(err)
		return
	}
	obj, err := h.decodeObject(b)
	if err != nil {
		h.fail(err)
		return
	}
	dry, err := h.dryRun(h.q["dryRun"])
	if err != nil {
		h.fail(err)
		return
	}
	out, err := h.write(obj, status, dry)
	if err != nil {
		h.fail(err)
		return
	}
	h.writeObject(http.StatusOK, out)
}

// write updates obj (its spec and metadata, or with status its status) through the registry.
// An update without resourceVersion is unconditional, as Kubernetes allows for kinds that
// permit it. A dry run validates without writing.
func (h *handler) write(obj api.Object, status, dry bool) (api.Object, error) {
	ctx := h.r.Context()
	m := obj.Meta()
	api.SetTypeMeta(obj)
	if err := h.s.checkEscalation(ctx, obj); err != nil {
		return nil, err
	}
	if status {
		if dry {
			return h.dryRunUpdate(obj)
		}
		return h.g.UpdateStatus(ctx, obj)
	}
	unconditional := m.ResourceVersion == ""
	given := m.ManagedFields
	for {
		cur, err := h.g.Get(ctx, m.Namespace, m.Name)
		if err != nil {
			return nil, err
		}
		if unconditional {
			m.ResourceVersion = cur.Meta().ResourceVersion
		}
		if !h.tracked {
			m.ManagedFields = given
			if err := h.track(cur, obj, h.rq.subresource); err != nil {
				return nil, err
			}
		}
		if dry {
			return h.dryRunUpdate(obj)
		}
		out, err := h.g.Update(ctx, obj)
		if !errors.Is(err, registry.ErrConflict) || !unconditional {
			return out, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// dryRunUpdate checks obj as Update would, without writing it.
func (h *handler) dryRunUpdate(obj api.Object) (api.Object, error) {
	m := obj.Meta()
	cur, err := h.g.Get(h.r.Context(), m.Namespace, m.Name)
	if err != nil {
		return nil, err
	}
	if m.ResourceVersion != "" && m.ResourceVersion != cur.Meta().ResourceVersion {
		return nil, errConflict(h.res, m.Name)
	}
	api.Default(obj)
	if errs := append(api.Validate(obj), api.ValidateUpdate(cur, obj)...); len(errs) > 0 {
		return nil, errInvalid(h.res, m.Name, errs)
	}
	m.UID, m.CreationTimestamp, m.ResourceVersion = cur.Meta().UID, cur.Meta().CreationTimestamp, cur.Meta().ResourceVersion
	return obj, nil
}

// deleteOptions reads a delete's options from its body or its query.
func (h *handler) deleteOptions() (metav1.DeleteOptions, error) {
	var o metav1.DeleteOptions
	b, err := io.ReadAll(io.LimitReader(h.r.Body, maxBody))
	if err != nil {
		return o, errBadRequest("read body: %v", err)
	}
	if mt, _, _ := mime.ParseMediaType(h.r.Header.Get("Content-Type")); mt == protobufType && len(b) > 0 {
		if b, err = protobufToJSON(b); err != nil {
			return o, errBadRequest("decode protobuf body: %v", err)
		}
	}
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := json.Unmarshal(b, &o); err != nil {
			return o, errBadRequest("DeleteOptions in version \"v1\" cannot be handled as a DeleteOptions: %v", err)
		}
	}
	if v := h.q.Get("gracePeriodSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return o, errBadRequest("invalid gracePeriodSeconds %q", v)
		}
		o.GracePeriodSeconds = &n
	}
	if v := h.q.Get("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		o.PropagationPolicy = &p
	}
	if v := h.q.Get("orphanDependents"); v != "" {
		b := v == "true"
		o.OrphanDependents = &b //lint:ignore SA1019 the deprecated query parameter is still honored by Kubernetes' apiserver
	}
	o.DryRun = append(o.DryRun, h.q["dryRun"]...)
	if p := o.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return o, errInvalid(h.res, h.rq.name, api.ErrorList{{Field: "propagationPolicy", Type: api.ErrorNotSupported, Value: string(*p),
				Detail: `supported values: "Foreground", "Background", "Orphan", nil`}})
		}
	}
	return o, nil
}

func (h *handler) delete() {
	o, err := h.deleteOptions()
	if err != nil {
		h.fail(err)
		return
	}
	out, gone, err := h.deleteOne(h.rq.namespace, h.rq.name, o)
	if err != nil {
		h.fail(err)
		return
	}
	if !gone {
		h.writeObject(http.StatusOK, out)
		return
	}
	if h.res.Kind == "Pod" {
		h.writeObject(http.StatusOK, out)
		return
	}
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess,
		Details: &metav1.StatusDetails{Name: h.rq.name, Group: groupOf(h.res.APIVersion), Kind: h.res.Name, UID: typesUID(out.Meta().UID)}}
	writeJSON(h.w, http.StatusOK, &st)
}

// deleteOne deletes ns/name with o; gone tells whether the object was removed (else it was
// marked for a graceful deletion).
func (h *handler) deleteOne(ns, name string, o metav1.DeleteOptions) (api.Object, bool, error) {
	dry, err := h.dryRun(o.DryRun)
	if err != nil {
		return nil, false, err
	}
	opts := registry.DeleteOptions{GracePeriodSeconds: o.GracePeriodSeconds}
	if p := o.Preconditions; p != nil {
		if p.UID != nil {
			opts.UID = string(*p.UID)
		}
		if p.ResourceVersion != nil {
			opts.ResourceVersion = *p.ResourceVersion
		}
	}
	ctx := h.r.Context()
	if dry {
		cur, err := h.g.Get(ctx, ns, name)
		if err != nil {
			return nil, false, err
		}
		if opts.UID != "" && opts.UID != cur.Meta().UID || opts.ResourceVersion != "" && opts.ResourceVersion != cur.Meta().ResourceVersion {
			return nil, false, h.preconditionFailed(name, opts, cur)
		}
		return cur, true, nil
	}
	if opts.UID == "" && opts.ResourceVersion == "" || h.preconditionsHold(ctx, ns, name, opts) {
		if err := h.propagate(ctx, ns, name, o); err != nil {
			return nil, false, err
		}
	}
	out, err := h.g.Delete(ctx, ns, name, opts)
	if errors.Is(err, registry.ErrConflict) && (opts.UID != "" || opts.ResourceVersion != "") {
		if cur, gerr := h.g.Get(ctx, ns, name); gerr == nil {
			return nil, false, h.preconditionFailed(name, opts, cur)
		}
	}
	if err != nil {
		return nil, false, err
	}
	return out, out.Meta().DeletionTimestamp == nil || out.Meta().DeletionGracePeriodSeconds == nil, nil
}

// preconditionsHold tells whether ns/name exists and matches the delete's preconditions.
func (h *handler) preconditionsHold(ctx context.Context, ns, name string, opts registry.DeleteOptions) bool {
	cur, err := h.g.Get(ctx, ns, name)
	return err == nil && (opts.UID == "" || opts.UID == cur.Meta().UID) &&
		(opts.ResourceVersion == "" || opts.ResourceVersion == cur.Meta().ResourceVersion)
}

// preconditionFailed is Kubernetes' 409 for a delete whose precondition does not hold.
func (h *handler) preconditionFailed(name string, opts registry.DeleteOptions, cur api.Object) error {
	var msg string
	if opts.UID != "" && opts.UID != cur.Meta().UID {
		msg = fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", opts.UID, cur.Meta().UID)
	} else {
		msg = fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", opts.ResourceVersion, cur.Meta().ResourceVersion)
	}
	e := withDetails(newStatus(http.StatusConflict, metav1.StatusReasonConflict,
		fmt.Sprintf("Operation cannot be fulfilled on %s %q: %s", qualifiedResource(h.res), name, msg)), h.res, name)
	return e
}

func (h *handler) deleteCollection() {
	o, err := h.deleteOptions()
	if err != nil {
		h.fail(err)
		return
	}
	l, err := h.page()
	if err != nil {
		h.fail(err)
		return
	}
	var out []api.Object
	for _, obj := range l.Items {
		d, _, err := h.deleteOne(obj.Meta().Namespace, obj.Meta().Name, o)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			h.rq.name = obj.Meta().Name
			h.fail(err)
			return
		}
		api.SetTypeMeta(d)
		out = append(out, d)
	}
	if out == nil {
		out = []api.Object{}
	}
	writeJSON(h.w, http.StatusOK, &listResult{TypeMeta: metav1.TypeMeta{Kind: h.res.Kind + "List", APIVersion: h.res.APIVersion},
		Metadata: metav1.ListMeta{ResourceVersion: strconv.FormatInt(l.Revision, 10)}, Items: out})
}

// decodeV1 decodes the JSON body b of a v1 kind into obj, failing as Kubernetes does.
func decodeV1(kind string, b []byte, obj any) error {
	if err := json.Unmarshal(b, obj); err != nil {
		return errBadRequest("%s in version \"v1\" cannot be handled as a %s: %v", kind, kind, err)
	}
	return nil
}
