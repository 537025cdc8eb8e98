package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// writeStatus writes the pod's status if what the runner knows differs from the cached one.
func (r *podRunner) writeStatus(ctx context.Context) error {
	now := time.Now()
	want := *api.DeepCopy(r.pod)
	r.applyStatus(&want.Status, now)
	if statusEqual(&r.pod.Status, &want.Status) {
		return nil
	}
	_, err := r.rt.a.stores.Pods.GuaranteedUpdate(ctx, r.pod.Namespace, r.pod.Name, func(cur *api.Pod) (*api.Pod, error) {
		if cur.UID != r.uid || cur.Spec.NodeName != r.rt.node || cur.DeletionTimestamp != nil {
			return nil, errSkip
		}
		r.applyStatus(&cur.Status, now)
		return cur, nil
	})
	if errors.Is(err, errSkip) || errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	return err
}

func statusEqual(a, b *api.PodStatus) bool {
	ab, err1 := json.Marshal(a)
	bb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ab, bb)
}

// applyStatus sets the agent-owned parts of st from the runner's containers.
func (r *podRunner) applyStatus(st *api.PodStatus, now time.Time) {
	t := api.NewTime(now)
	st.HostIP = r.rt.cfg.Address
	st.PodIP, st.PodIPs = r.ip, []api.PodIP{{IP: r.ip}}
	if st.StartTime == nil {
		st.StartTime = &t
	}
	st.ContainerStatuses, st.InitContainerStatuses = nil, nil
	var unready, refused, incomplete []string
	initialized := r.initDone
	for _, c := range r.ctrs {
		s := c.pids != nil && c.started
		cs := api.ContainerStatus{Name: c.spec.Name, Image: c.spec.Image, Ready: c.ready, RestartCount: c.restartCount,
			State: c.state, LastState: c.last, ContainerID: c.containerID, Started: &s}
		if c.init {
			if !r.initDone && !c.satisfied() {
				incomplete = append(incomplete, c.spec.Name)
			}
			st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
			if !c.sidecar {
				continue
			}
		} else {
			if w := cs.State.Waiting; !initialized && w != nil && w.Reason == "ContainerCreating" {
				cs.State = api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "PodInitializing"}}
			}
			st.ContainerStatuses = append(st.ContainerStatuses, cs)
		}
		if !c.ready {
			unready = append(unready, c.spec.Name)
		}
		if w := c.state.Waiting; w != nil && w.Reason == "CreateContainerConfigError" {
			refused = append(refused, fmt.Sprintf("container %s: %s", c.spec.Name, w.Message))
		}
	}
	st.Phase = r.phase()
	st.Reason, st.Message = "", strings.Join(refused, "; ")
	if st.Phase == api.PodFailed && r.evicted != nil {
		st.Reason, st.Message = EvictedReason, r.evicted.message
		setCondition(st, "DisruptionTarget", api.ConditionTrue, "TerminationByKubelet", r.evicted.message, t)
	}
	setCondition(st, "PodScheduled", api.ConditionTrue, "", "", t)
	if initialized {
		setCondition(st, "Initialized", api.ConditionTrue, "", "", t)
	} else {
		setCondition(st, "Initialized", api.ConditionFalse, "ContainersNotInitialized",
			"containers with incomplete status: ["+strings.Join(incomplete, " ")+"]", t)
	}
	switch {
	case st.Phase == api.PodSucceeded || st.Phase == api.PodFailed:
		setCondition(st, "ContainersReady", api.ConditionFalse, "PodCompleted", "", t)
		setCondition(st, "Ready", api.ConditionFalse, "PodCompleted", "", t)
	case len(unready) > 0:
		msg := "containers with unready status: [" + strings.Join(unready, " ") + "]"
		setCondition(st, "ContainersReady", api.ConditionFalse, "ContainersNotReady", msg, t)
		setCondition(st, "Ready", api.ConditionFalse, "ContainersNotReady", msg, t)
	default:
		setCondition(st, "ContainersReady", api.ConditionTrue, "", "", t)
		setCondition(st, "Ready", api.ConditionTrue, "", "", t)
	}
}

// phase summarises the containers as kubelet's getPhase does.
func (r *podRunner) phase() string {
	if r.evicted != nil && !slices.ContainsFunc(r.ctrs, func(c *ctr) bool { return c.pids != nil }) {
		return api.PodFailed
	}
	if !r.initDone {
		for _, c := range r.ctrs {
			if t := c.state.Terminated; c.init && !c.sidecar && c.done && t != nil && t.ExitCode != 0 {
				return api.PodFailed // an init container failed and will not be retried
			}
		}
		return api.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, c := range r.ctrs {
		if c.init {
			continue
		}
		switch {
		case c.state.Running != nil:
			running++
		case c.state.Terminated != nil:
			stopped++
			if c.state.Terminated.ExitCode == 0 {
				succeeded++
			}
		case c.last.Terminated != nil:
			stopped++ // waiting to restart
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return api.PodPending
	case running > 0:
		return api.PodRunning
	case stopped > 0:
		policy := r.pod.Spec.RestartPolicy
		if policy == api.RestartAlways || policy == "" {
			return api.PodRunning
		}
		if stopped == succeeded {
			return api.PodSucceeded
		}
		if policy == api.RestartNever {
			return api.PodFailed
		}
		if !r.appsFinished() {
			return api.PodRunning // OnFailure: a failed container will restart
		}
		return api.PodFailed
	}
	return api.PodPending
}

// setCondition sets condition typ, keeping its transition time when its status is unchanged.
func setCondition(st *api.PodStatus, typ, status, reason, msg string, t api.Time) {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != typ {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = t
		}
		c.Status, c.Reason, c.Message = status, reason, msg
		return
	}
	st.Conditions = append(st.Conditions, api.PodCondition{Type: typ, Status: status, Reason: reason, Message: msg,
		LastTransitionTime: t})
}
