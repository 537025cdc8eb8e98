package api

import "strconv"

// Lifecycle holds a container's hooks (v1 Lifecycle): postStart runs right after the
// container starts (a failure kills the container, whose restart policy then applies);
// preStop runs before the container is sent SIGTERM, within the pod's grace period.
type Lifecycle struct {
	PostStart *LifecycleHandler `json:"postStart,omitempty"`
	PreStop   *LifecycleHandler `json:"preStop,omitempty"`
}

// LifecycleHandler is one hook action: exactly one of exec (a command run with the
// container's environment), httpGet (a GET against the pod IP by default; a status in
// [200, 400) succeeds) and sleep.
type LifecycleHandler struct {
	Exec    *ExecAction    `json:"exec,omitempty"`
	HTTPGet *HTTPGetAction `json:"httpGet,omitempty"`
	Sleep   *SleepAction   `json:"sleep,omitempty"`
}

// SleepAction pauses for Seconds.
type SleepAction struct {
	Seconds int64 `json:"seconds"`
}

// validateLifecycle checks c's hooks as Kubernetes' validateLifecycle does; grace is the
// pod's terminationGracePeriodSeconds (nil: not set).
func validateLifecycle(c *Container, init bool, grace *int64, p Path) ErrorList {
	lc := c.Lifecycle
	if lc == nil {
		return nil
	}
	p = p.Child("lifecycle")
	if init && c.RestartPolicy != RestartAlways {
		return ErrorList{forbidden(p, "may not be set for init containers without restartPolicy=Always")}
	}
	var errs ErrorList
	for _, h := range []struct {
		name string
		h    *LifecycleHandler
	}{{"postStart", lc.PostStart}, {"preStop", lc.PreStop}} {
		if h.h != nil {
			errs = append(errs, validateHandler(h.h, grace, p.Child(h.name))...)
		}
	}
	return errs
}

func validateHandler(h *LifecycleHandler, grace *int64, p Path) ErrorList {
	var errs ErrorList
	var set []string
	if h.Exec != nil {
		set = append(set, "exec")
		if len(h.Exec.Command) == 0 {
			errs = append(errs, required(p.Child("exec.command"), ""))
		}
	}
	if h.HTTPGet != nil {
		set = append(set, "httpGet")
		errs = append(errs, validateHTTPGet(h.HTTPGet, p.Child("httpGet"))...)
	}
	if h.Sleep != nil {
		set = append(set, "sleep")
		s := h.Sleep.Seconds
		if s < 0 || grace != nil && s > *grace {
			detail := "must be greater than or equal to 0"
			if grace != nil {
				detail += " and less than or equal to terminationGracePeriodSeconds (" + strconv.FormatInt(*grace, 10) + ")"
			}
			errs = append(errs, invalid(p.Child("sleep.seconds"), s, detail))
		}
	}
	switch {
	case len(set) == 0:
		errs = append(errs, required(p, "must specify a handler type"))
	case len(set) > 1:
		errs = append(errs, forbidden(p.Child(set[1]), "may not specify more than 1 handler type"))
	}
	return errs
}

func validateHTTPGet(g *HTTPGetAction, p Path) ErrorList {
	var errs ErrorList
	switch {
	case !g.Port.IsString && (g.Port.IntVal < 1 || g.Port.IntVal > 65535):
		errs = append(errs, invalid(p.Child("port"), g.Port.IntVal, "must be between 1 and 65535, inclusive"))
	case g.Port.IsString && (len(g.Port.StrVal) > 15 || !portNameRe.MatchString(g.Port.StrVal)):
		errs = append(errs, invalid(p.Child("port"), g.Port.StrVal, "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"))
	}
	if g.Scheme != "" && g.Scheme != "HTTP" && g.Scheme != "HTTPS" {
		errs = append(errs, notSupported(p.Child("scheme"), g.Scheme, "HTTP", "HTTPS"))
	}
	return errs
}
