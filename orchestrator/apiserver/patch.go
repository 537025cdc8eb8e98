package apiserver

import (
	"encoding/json"
	"errors"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// Patch media types.
const (
	jsonPatchType      = "application/json-patch+json"
	mergePatchType     = "application/merge-patch+json"
	strategicPatchType = "application/strategic-merge-patch+json"
	applyPatchType     = "application/apply-patch+yaml"
)

// k8sTypes are the k8s.io/api types of the kinds, whose patch strategy tags (merge keys of
// lists) strategic merge patches follow; Keel's JSON is field-compatible with them.
var k8sTypes = map[string]func() any{
	"Namespace": func() any { return &corev1.Namespace{} }, "Node": func() any { return &corev1.Node{} },
	"Pod": func() any { return &corev1.Pod{} }, "Service": func() any { return &corev1.Service{} },
	//lint:ignore SA1019 v1 Endpoints is deprecated in Kubernetes 1.33+ but served, as Kubernetes still serves it
	"Endpoints": func() any { return &corev1.Endpoints{} }, "Event": func() any { return &corev1.Event{} },
	"ConfigMap": func() any { return &corev1.ConfigMap{} }, "Secret": func() any { return &corev1.Secret{} },
	"ReplicationController": func() any { return &corev1.ReplicationController{} },
	"PersistentVolume":      func() any { return &corev1.PersistentVolume{} },
	"PersistentVolumeClaim": func() any { return &corev1.PersistentVolumeClaim{} },
	"ReplicaSet":            func() any { return &appsv1.ReplicaSet{} }, "Deployment": func() any { return &appsv1.Deployment{} },
	"DaemonSet": func() any { return &appsv1.DaemonSet{} }, "StatefulSet": func() any { return &appsv1.StatefulSet{} },
	"Lease": func() any { return &coordinationv1.Lease{} },
	"Job":   func() any { return &batchv1.Job{} }, "CronJob": func() any { return &batchv1.CronJob{} },
	"HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"Ingress":                 func() any { return &networkingv1.Ingress{} }, "IngressClass": func() any { return &networkingv1.IngressClass{} },
	"StorageClass": func() any { return &storagev1.StorageClass{} },
	"LimitRange":   func() any { return &corev1.LimitRange{} }, "ResourceQuota": func() any { return &corev1.ResourceQuota{} },
	"Role": func() any { return &rbacv1.Role{} }, "ClusterRole": func() any { return &rbacv1.ClusterRole{} },
	"RoleBinding": func() any { return &rbacv1.RoleBinding{} }, "ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
}

// applyPatch applies a patch of media type pt to the JSON document cur; schema is the
// k8s.io/api type a strategic merge patch follows (nil: a JSON merge patch).
func applyPatch(pt string, cur, patch []byte, schema any) ([]byte, error) {
	switch pt {
	case jsonPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, errBadRequest("%v", err)
		}
		out, err := p.Apply(cur)
		if err != nil {
			return nil, newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, err.Error())
		}
		return out, nil
	case mergePatchType:
		out, err := jsonpatch.MergePatch(cur, patch)
		if err != nil {
			return nil, errBadRequest("%v", err)
		}
		return out, nil
	case strategicPatchType:
		if schema == nil {
			out, err := jsonpatch.MergePatch(cur, patch)
			if err != nil {
				return nil, errBadRequest("%v", err)
			}
			return out, nil
		}
		out, err := strategicpatch.StrategicMergePatch(cur, patch, schema)
		if err != nil {
			return nil, errBadRequest("%v", err)
		}
		return out, nil
	}
	return nil, newStatus(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
		"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json")
}

// patchObject reads the object, applies the patch and decodes the result; keepRV tells
// whether the patch set a resourceVersion of its own (then a conflict is final).
func (h *handler) patchObject(pt string, patch []byte) (api.Object, bool, error) {
	cur, err := h.g.Get(h.r.Context(), h.rq.namespace, h.rq.name)
	if err != nil {
		return nil, false, err
	}
	api.SetTypeMeta(cur)
	cb, err := json.Marshal(cur)
	if err != nil {
		return nil, false, err
	}
	var schema any
	if mk := k8sTypes[h.res.Kind]; mk != nil {
		schema = mk()
	}
	out, err := applyPatch(pt, cb, patch, schema)
	if err != nil {
		return nil, false, err
	}
	obj, err := h.decodeObject(out)
	if err != nil {
		return nil, false, err
	}
	ownRV := obj.Meta().ResourceVersion != cur.Meta().ResourceVersion
	if obj.Meta().ResourceVersion == "" {
		obj.Meta().ResourceVersion = cur.Meta().ResourceVersion
	}
	return obj, ownRV, nil
}

// patch serves PATCH on an object or its status: read, patch, write with the read
// resourceVersion, and retry on a conflict unless the patch named a resourceVersion.
func (h *handler) patch(status bool) {
	b, pt, err := h.readBody(jsonPatchType, mergePatchType, strategicPatchType, applyPatchType)
	if err != nil {
		h.fail(err)
		return
	}
	if pt == applyPatchType {
		if status {
			h.fail(newStatus(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
				"server-side apply of the status subresource is not supported by keel; apply the object or patch its status"))
			return
		}
		h.apply(b)
		return
	}
	if h.q.Has("force") {
		h.fail(optionsInvalid("PatchOptions", "force", "Forbidden: may not be specified for non-apply patch"))
		return
	}
	if pt == strategicPatchType && k8sTypes[h.res.Kind] == nil {
		h.fail(newStatus(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
			"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json"))
		return
	}
	dry, err := h.dryRun(h.q["dryRun"])
	if err != nil {
		h.fail(err)
		return
	}
	for attempt := 0; ; attempt++ {
		obj, ownRV, err := h.patchObject(pt, b)
		if err != nil {
			h.fail(err)
			return
		}
		out, err := h.write(obj, status, dry)
		if errors.Is(err, registry.ErrConflict) && !ownRV && attempt < 5 && h.r.Context().Err() == nil {
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
