package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"unicode"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/yaml"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/apiserver/openapi"
	"github.com/keeldb/keel/orchestrator/registry"
)

// Server-side apply and managedFields. Every write through the API server records the
// fields its manager set in metadata.managedFields (an Update entry), and an apply patch
// merges into the live object with k8s.io/apimachinery's field manager, whose type converter
// is built from the served OpenAPI schemas. Objects go JSON → unstructured → field manager
// → unstructured → Keel's types, then through the registry like any other write.

// fieldManagers holds the field managers by kind and subresource, built on first use.
var fieldManagers struct {
	once sync.Once
	tc   managedfields.TypeConverter
	err  error
	mu   sync.Mutex
	by   map[string]*managedfields.FieldManager
}

// fieldManager returns the field manager of the handler's kind for subresource ("" or
// "scale"; writes through status keep the stored metadata and record nothing).
func (h *handler) fieldManager(subresource string) (*managedfields.FieldManager, error) {
	fm := &fieldManagers
	fm.once.Do(func() {
		fm.tc, fm.err = managedfields.NewTypeConverter(openapi.Schemas(api.Resources()), false)
		fm.by = map[string]*managedfields.FieldManager{}
	})
	if fm.err != nil {
		return nil, fmt.Errorf("server-side apply type converter: %w", fm.err)
	}
	gvk := schema.FromAPIVersionAndKind(h.res.APIVersion, h.res.Kind)
	key := gvk.String() + "/" + subresource
	fm.mu.Lock()
	defer fm.mu.Unlock()
	if f := fm.by[key]; f != nil {
		return f, nil
	}
	var reset map[fieldpath.APIVersion]fieldpath.Filter
	if h.res.HasStatus && subresource == "" {
		// The object's own writes do not change its status, so they own none of it.
		reset = map[fieldpath.APIVersion]fieldpath.Filter{
			fieldpath.APIVersion(h.res.APIVersion): fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status"))),
		}
	}
	f, err := managedfields.NewDefaultFieldManager(fm.tc, sameVersion{}, defaulter{}, creater{}, gvk, gvk.GroupVersion(), subresource, reset)
	if err != nil {
		return nil, fmt.Errorf("field manager of %s: %w", gvk, err)
	}
	fm.by[key] = f
	return f, nil
}

// sameVersion converts between versions of a kind; each kind is served in one version.
type sameVersion struct{}

func (sameVersion) Convert(in, out, _ any) error {
	return fmt.Errorf("conversion from %T to %T is not supported", in, out)
}

func (sameVersion) ConvertToVersion(in runtime.Object, gv runtime.GroupVersioner) (runtime.Object, error) {
	if _, ok := gv.KindForGroupVersionKinds([]schema.GroupVersionKind{in.GetObjectKind().GroupVersionKind()}); !ok {
		return nil, fmt.Errorf("%s is served in one version only", in.GetObjectKind().GroupVersionKind())
	}
	return in, nil
}

func (sameVersion) ConvertFieldLabel(_ schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

// defaulter applies Keel's defaults to an unstructured object through its typed form.
type defaulter struct{}

func (defaulter) Default(in runtime.Object) {
	u, ok := in.(*unstructured.Unstructured)
	if !ok {
		return
	}
	obj, err := api.New(u.GetKind())
	if err != nil {
		return
	}
	b, err := u.MarshalJSON()
	if err != nil || json.Unmarshal(b, obj) != nil {
		return
	}
	api.Default(obj)
	if out, err := toUnstructured(obj); err == nil {
		u.Object = out.Object
	}
}

// creater makes empty unstructured objects.
type creater struct{}

func (creater) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

func toUnstructured(obj api.Object) (*unstructured.Unstructured, error) {
	api.SetTypeMeta(obj)
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return u, nil
}

// managerName is the request's fieldManager, else (for writes other than apply) the user
// agent's product name, as Kubernetes names managers ("kubectl-edit", "kube-controller-manager").
func (h *handler) managerName() (string, error) {
	if m := h.q.Get("fieldManager"); m != "" {
		if len(m) > 128 {
			return "", optionsInvalid(h.optionsKind(), "fieldManager", "Too long: may not be more than 128 bytes")
		}
		for _, r := range m {
			if !unicode.IsPrint(r) {
				return "", optionsInvalid(h.optionsKind(), "fieldManager", "Invalid value: "+fmt.Sprintf("%q", m)+": must only contain printable characters")
			}
		}
		return m, nil
	}
	product, _, _ := strings.Cut(h.r.UserAgent(), "/")
	var b strings.Builder
	for _, r := range product {
		if b.Len() >= 128 {
			break
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

func (h *handler) optionsKind() string {
	switch h.r.Method {
	case http.MethodPost:
		return "CreateOptions"
	case http.MethodPut:
		return "UpdateOptions"
	}
	return "PatchOptions"
}

// optionsInvalid is Kubernetes' Invalid error about a request option.
func optionsInvalid(kind, field, detail string) error {
	msg := fmt.Sprintf("%s.meta.k8s.io \"\" is invalid: %s: %s", kind, field, detail)
	st := newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, msg)
	st.s.Details = &metav1.StatusDetails{Group: "meta.k8s.io", Kind: kind,
		Causes: []metav1.StatusCause{{Type: causeOf(detail), Message: detail, Field: field}}}
	return st
}

func causeOf(detail string) metav1.CauseType {
	switch {
	case strings.HasPrefix(detail, "Required value"):
		return metav1.CauseTypeFieldValueRequired
	case strings.HasPrefix(detail, "Forbidden"):
		return metav1.CauseType("FieldValueForbidden")
	case strings.HasPrefix(detail, "Too long"):
		return metav1.CauseType("FieldValueTooLong")
	}
	return metav1.CauseTypeFieldValueInvalid
}

// track sets obj's managedFields for an Update by the request's manager over live (nil on
// create). Failing to compute them keeps the write going, as Kubernetes does.
func (h *handler) track(live, obj api.Object, subresource string) error {
	manager, err := h.managerName()
	if err != nil {
		return err
	}
	fm, err := h.fieldManager(subresource)
	if err != nil {
		return err
	}
	var lu runtime.Object
	if live != nil {
		if lu, err = toUnstructured(live); err != nil {
			return err
		}
	} else {
		lu, _ = creater{}.New(schema.FromAPIVersionAndKind(h.res.APIVersion, h.res.Kind))
	}
	nu, err := toUnstructured(obj)
	if err != nil {
		return err
	}
	out, ok := fm.UpdateNoErrors(lu, nu, manager).(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	obj.Meta().ManagedFields, err = managedFieldsOf(out)
	return err
}

func managedFieldsOf(u *unstructured.Unstructured) ([]api.ManagedFieldsEntry, error) {
	raw, ok := u.Object["metadata"].(map[string]any)["managedFields"]
	if !ok {
		return nil, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var out []api.ManagedFieldsEntry
	return out, json.Unmarshal(b, &out)
}

// apply serves an apply patch: merge it into the live object (or an empty one, creating
// the object) as the request's field manager, and write the result, retrying on conflicts.
func (h *handler) apply(body []byte) {
	manager := h.q.Get("fieldManager")
	if manager == "" {
		h.fail(optionsInvalid("PatchOptions", "fieldManager", "Required value: is required for apply patch"))
		return
	}
	if _, err := h.managerName(); err != nil {
		h.fail(err)
		return
	}
	force := false
	switch v := h.q.Get("force"); v {
	case "", "false":
	case "true":
		force = true
	default:
		h.fail(errBadRequest("force: invalid value %q", v))
		return
	}
	dry, err := h.dryRun(h.q["dryRun"])
	if err != nil {
		h.fail(err)
		return
	}
	patch := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(body, &patch.Object); err != nil {
		h.fail(errBadRequest("error decoding YAML: %v", err))
		return
	}
	if patch.Object == nil {
		h.fail(errBadRequest("error decoding YAML: the patch is empty"))
		return
	}
	if patch.GetAPIVersion() != h.res.APIVersion || patch.GetKind() != h.res.Kind {
		h.fail(errBadRequest("the API version in the data (%s) does not match the expected API version (%s)", patch.GetAPIVersion(), h.res.APIVersion))
		return
	}
	if n := patch.GetName(); n != "" && n != h.rq.name {
		h.fail(errBadRequest("the name of the object (%s) does not match the name on the URL (%s)", n, h.rq.name))
		return
	}
	fm, err := h.fieldManager("")
	if err != nil {
		h.fail(err)
		return
	}
	ctx := h.r.Context()
	h.tracked = true // the field manager's result carries the managedFields
	for attempt := 0; ; attempt++ {
		cur, err := h.g.Get(ctx, h.rq.namespace, h.rq.name)
		creating := errors.Is(err, registry.ErrNotFound)
		if err != nil && !creating {
			h.fail(err)
			return
		}
		var live runtime.Object
		if creating {
			u, _ := creater{}.New(schema.FromAPIVersionAndKind(h.res.APIVersion, h.res.Kind))
			u.(*unstructured.Unstructured).SetName(h.rq.name)
			if h.res.Namespaced {
				u.(*unstructured.Unstructured).SetNamespace(h.rq.namespace)
			}
			live = u
		} else if live, err = toUnstructured(cur); err != nil {
			h.fail(err)
			return
		}
		merged, err := fm.Apply(live, patch.DeepCopy(), manager, force)
		if err != nil {
			var st apierrors.APIStatus
			if errors.As(err, &st) {
				h.fail(err)
			} else {
				h.fail(errBadRequest("%v", err))
			}
			return
		}
		b, err := json.Marshal(merged)
		if err != nil {
			h.fail(err)
			return
		}
		obj, err := h.decodeObject(b)
		if err != nil {
			h.fail(err)
			return
		}
		if creating {
			out, err := h.createObject(obj, dry)
			if errors.Is(err, registry.ErrAlreadyExists) && attempt < 5 && ctx.Err() == nil {
				continue
			}
			if err != nil {
				h.fail(err)
				return
			}
			h.writeObject(http.StatusCreated, out)
			return
		}
		obj.Meta().ResourceVersion = cur.Meta().ResourceVersion
		out, err := h.write(obj, false, dry)
		if errors.Is(err, registry.ErrConflict) && attempt < 5 && ctx.Err() == nil {
			continue
		}
		if err != nil {
			h.fail(err)
			return
		}
		h.writeObject(http.StatusOK, out)
		return
	}
}
