package api

// Pod QoS classes (status.qosClass), as Kubernetes computes them.
const (
	QOSGuaranteed = "Guaranteed"
	QOSBurstable  = "Burstable"
	QOSBestEffort = "BestEffort"
)

// qosResources are the resources that decide a pod's QoS class (Kubernetes'
// supportedQoSComputeResources).
var qosResources = map[string]bool{"cpu": true, "memory": true}

// defaultPodRequests copies a container's limits into its missing requests, as the
// apiserver's pod defaulting does (requests default to limits; pods only, not templates).
func defaultPodRequests(s *PodSpec) {
	for _, cs := range [][]Container{s.InitContainers, s.Containers} {
		for i := range cs {
			r := &cs[i].Resources
			for name, q := range r.Limits {
				if _, ok := r.Requests[name]; ok {
					continue
				}
				if r.Requests == nil {
					r.Requests = ResourceList{}
				}
				r.Requests[name] = q
			}
		}
	}
}

// PodQOSClass returns spec's QoS class by Kubernetes' rules (GetPodQOS): BestEffort when no
// container (init containers included) has a cpu or memory request or limit; Guaranteed when
// every container has cpu and memory limits and the summed requests equal the summed limits;
// Burstable otherwise.
func PodQOSClass(s *PodSpec) string {
	requests, limits := map[string]int64{}, map[string]int64{}
	guaranteed := true
	for _, cs := range [][]Container{s.InitContainers, s.Containers} {
		for _, c := range cs {
			for name, q := range c.Resources.Requests {
				if v := q.MilliValue(); qosResources[name] && v != 0 {
					requests[name] += v
				}
			}
			found := 0
			for name, q := range c.Resources.Limits {
				if v := q.MilliValue(); qosResources[name] && v != 0 {
					limits[name] += v
					found++
				}
			}
			if found != len(qosResources) {
				guaranteed = false
			}
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return QOSBestEffort
	}
	if guaranteed {
		for name, v := range requests {
			if limits[name] != v {
				guaranteed = false
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return QOSGuaranteed
	}
	return QOSBurstable
}
