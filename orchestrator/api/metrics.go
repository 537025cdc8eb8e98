package api

// PodMetrics is a pod's resource usage as the metrics API (metrics.k8s.io/v1beta1)
// reports it: each container's cpu (cores) and memory (working set bytes), measured over
// Window ending at Timestamp. Agents write them with a store lease, so a pod's metrics
// disappear once its agent stops reporting them. Labels are the pod's.
type PodMetrics struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Timestamp  Time               `json:"timestamp"`
	Window     string             `json:"window"`
	Containers []ContainerMetrics `json:"containers"`
}

// ContainerMetrics is one container's usage.
type ContainerMetrics struct {
	Name  string       `json:"name"`
	Usage ResourceList `json:"usage"`
}

// NodeMetrics is a node's resource usage (metrics.k8s.io/v1beta1).
type NodeMetrics struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Timestamp  Time         `json:"timestamp"`
	Window     string       `json:"window"`
	Usage      ResourceList `json:"usage"`
}
