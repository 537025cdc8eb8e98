package printers

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The column definitions, as Kubernetes' server-side printers define them. Descriptions
// come from the API types' documentation where Kubernetes takes them from there.

var (
	objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()
	nameColumn    = col("Name", "string", objectMetaDoc["name"]).format("name")
	ageColumn     = col("Age", "string", objectMetaDoc["creationTimestamp"])

	containersColumn = col("Containers", "string", "Names of each container in the template.").wide()
	imagesColumn     = col("Images", "string", "Images referenced by each container in the template.").wide()
)

// def builds a column definition.
type def metav1.TableColumnDefinition

func col(name, typ, description string) def {
	return def{Name: name, Type: typ, Description: description}
}

func (d def) wide() def                        { d.Priority = 1; return d }
func (d def) format(f string) def              { d.Format = f; return d }
func (d def) tc() metav1.TableColumnDefinition { return metav1.TableColumnDefinition(d) }

func cols(ds ...def) []metav1.TableColumnDefinition {
	out := make([]metav1.TableColumnDefinition, len(ds))
	for i, d := range ds {
		out[i] = d.tc()
	}
	return out
}

var (
	podColumns = cols(def(nameColumn),
		col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
		col("Status", "string", "The aggregate status of the containers in this pod."),
		col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
		def(ageColumn),
		col("IP", "string", corev1.PodStatus{}.SwaggerDoc()["podIP"]).wide(),
		col("Node", "string", corev1.PodSpec{}.SwaggerDoc()["nodeName"]).wide(),
		col("Nominated Node", "string", corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]).wide(),
		col("Readiness Gates", "string", corev1.PodSpec{}.SwaggerDoc()["readinessGates"]).wide(),
	)

	replicationControllerColumns = cols(def(nameColumn),
		col("Desired", "integer", corev1.ReplicationControllerSpec{}.SwaggerDoc()["replicas"]),
		col("Current", "integer", corev1.ReplicationControllerStatus{}.SwaggerDoc()["replicas"]),
		col("Ready", "integer", corev1.ReplicationControllerStatus{}.SwaggerDoc()["readyReplicas"]),
		def(ageColumn), containersColumn, imagesColumn,
		col("Selector", "string", corev1.ReplicationControllerSpec{}.SwaggerDoc()["selector"]).wide(),
	)

	replicaSetColumns = cols(def(nameColumn),
		col("Desired", "integer", appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]),
		col("Current", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]),
		col("Ready", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]),
		def(ageColumn), containersColumn, imagesColumn,
		col("Selector", "string", appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"]).wide(),
	)

	daemonSetColumns = cols(def(nameColumn),
		col("Desired", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["desiredNumberScheduled"]),
		col("Current", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["currentNumberScheduled"]),
		col("Ready", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["numberReady"]),
		col("Up-to-date", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["updatedNumberScheduled"]),
		col("Available", "integer", appsv1.DaemonSetStatus{}.SwaggerDoc()["numberAvailable"]),
		col("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
		def(ageColumn), containersColumn, imagesColumn,
		col("Selector", "string", appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"]).wide(),
	)

	statefulSetColumns = cols(def(nameColumn),
		col("Ready", "string", "Number of the pod with ready state"),
		def(ageColumn), containersColumn, imagesColumn,
	)

	deploymentColumns = cols(def(nameColumn),
		col("Ready", "string", "Number of the pod with ready state"),
		col("Up-to-date", "string", appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]),
		col("Available", "string", appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]),
		def(ageColumn), containersColumn, imagesColumn,
		col("Selector", "string", appsv1.DeploymentSpec{}.SwaggerDoc()["selector"]).wide(),
	)

	jobColumns = cols(def(nameColumn),
		col("Status", "string", "Status of the job."),
		col("Completions", "string", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
		col("Duration", "string", "Time required to complete the job."),
		def(ageColumn), containersColumn, imagesColumn,
		col("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"]).wide(),
	)

	cronJobColumns = cols(def(nameColumn),
		col("Schedule", "string", batchv1.CronJobSpec{}.SwaggerDoc()["schedule"]),
		col("Timezone", "string", batchv1.CronJobSpec{}.SwaggerDoc()["timeZone"]),
		col("Suspend", "boolean", batchv1.CronJobSpec{}.SwaggerDoc()["suspend"]),
		col("Active", "integer", batchv1.CronJobStatus{}.SwaggerDoc()["active"]),
		col("Last Schedule", "string", batchv1.CronJobStatus{}.SwaggerDoc()["lastScheduleTime"]),
		def(ageColumn), containersColumn, imagesColumn,
		col("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"]).wide(),
	)

	serviceColumns = cols(def(nameColumn),
		col("Type", "string", corev1.ServiceSpec{}.SwaggerDoc()["type"]),
		col("Cluster-IP", "string", corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"]),
		col("External-IP", "string", corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"]),
		col("Port(s)", "string", corev1.ServiceSpec{}.SwaggerDoc()["ports"]),
		def(ageColumn),
		col("Selector", "string", corev1.ServiceSpec{}.SwaggerDoc()["selector"]).wide(),
	)

	ingressColumns = cols(def(nameColumn),
		col("Class", "string", networkingv1.IngressSpec{}.SwaggerDoc()["ingressClassName"]),
		col("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
		col("Address", "string", "Address is a list containing ingress points for the load-balancer"),
		col("Ports", "string", "Ports of TLS configurations that open"),
		def(ageColumn),
	)

	ingressClassColumns = cols(def(nameColumn),
		col("Controller", "string", networkingv1.IngressClassSpec{}.SwaggerDoc()["controller"]),
		col("Parameters", "string", networkingv1.IngressClassSpec{}.SwaggerDoc()["parameters"]),
		def(ageColumn),
	)

	endpointsColumns = cols(def(nameColumn),
		col("Endpoints", "string", "The ready addresses with their ports, the first three of them."),
		def(ageColumn),
	)

	nodeColumns = cols(def(nameColumn),
		col("Status", "string", "The status of the node"),
		col("Roles", "string", "The roles of the node"),
		def(ageColumn),
		col("Version", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]),
		col("Internal-IP", "string", corev1.NodeStatus{}.SwaggerDoc()["addresses"]).wide(),
		col("External-IP", "string", corev1.NodeStatus{}.SwaggerDoc()["addresses"]).wide(),
		col("OS-Image", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"]).wide(),
		col("Kernel-Version", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]).wide(),
		col("Container-Runtime", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]).wide(),
	)

	eventColumns = cols(
		col("Last Seen", "string", corev1.Event{}.SwaggerDoc()["lastTimestamp"]),
		col("Type", "string", corev1.Event{}.SwaggerDoc()["type"]),
		col("Reason", "string", corev1.Event{}.SwaggerDoc()["reason"]),
		col("Object", "string", corev1.Event{}.SwaggerDoc()["involvedObject"]),
		col("Subobject", "string", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]).wide(),
		col("Source", "string", corev1.Event{}.SwaggerDoc()["source"]).wide(),
		col("Message", "string", corev1.Event{}.SwaggerDoc()["message"]),
		col("First Seen", "string", corev1.Event{}.SwaggerDoc()["firstTimestamp"]).wide(),
		col("Count", "string", corev1.Event{}.SwaggerDoc()["count"]).wide(),
		def(nameColumn).wide(),
	)

	namespaceColumns = cols(def(nameColumn),
		col("Status", "string", "The status of the namespace"),
		def(ageColumn),
	)

	secretColumns = cols(def(nameColumn),
		col("Type", "string", corev1.Secret{}.SwaggerDoc()["type"]),
		col("Data", "string", corev1.Secret{}.SwaggerDoc()["data"]),
		def(ageColumn),
	)

	configMapColumns = cols(def(nameColumn),
		col("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
		def(ageColumn),
	)

	persistentVolumeColumns = cols(def(nameColumn),
		col("Capacity", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["capacity"]),
		col("Access Modes", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["accessModes"]),
		col("Reclaim Policy", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["persistentVolumeReclaimPolicy"]),
		col("Status", "string", corev1.PersistentVolumeStatus{}.SwaggerDoc()["phase"]),
		col("Claim", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["claimRef"]),
		col("StorageClass", "string", "StorageClass of the pv"),
		col("VolumeAttributesClass", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["volumeAttributesClassName"]),
		col("Reason", "string", corev1.PersistentVolumeStatus{}.SwaggerDoc()["reason"]),
		def(ageColumn),
		col("VolumeMode", "string", corev1.PersistentVolumeSpec{}.SwaggerDoc()["volumeMode"]).wide(),
	)

	persistentVolumeClaimColumns = cols(def(nameColumn),
		col("Status", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["phase"]),
		col("Volume", "string", corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeName"]),
		col("Capacity", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["capacity"]),
		col("Access Modes", "string", corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["accessModes"]),
		col("StorageClass", "string", "StorageClass of the pvc"),
		col("VolumeAttributesClass", "string", corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeAttributesClassName"]),
		def(ageColumn),
		col("VolumeMode", "string", corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeMode"]).wide(),
	)

	storageClassColumns = cols(def(nameColumn),
		col("Provisioner", "string", storagev1.StorageClass{}.SwaggerDoc()["provisioner"]),
		col("ReclaimPolicy", "string", storagev1.StorageClass{}.SwaggerDoc()["reclaimPolicy"]),
		col("VolumeBindingMode", "string", storagev1.StorageClass{}.SwaggerDoc()["volumeBindingMode"]),
		col("AllowVolumeExpansion", "string", storagev1.StorageClass{}.SwaggerDoc()["allowVolumeExpansion"]),
		def(ageColumn),
	)

	horizontalPodAutoscalerColumns = cols(def(nameColumn),
		col("Reference", "string", autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["scaleTargetRef"]),
		col("Targets", "string", autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["metrics"]),
		col("MinPods", "string", autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["minReplicas"]),
		col("MaxPods", "integer", autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["maxReplicas"]),
		col("Replicas", "integer", autoscalingv2.HorizontalPodAutoscalerStatus{}.SwaggerDoc()["currentReplicas"]),
		def(ageColumn),
	)

	leaseColumns = cols(def(nameColumn),
		col("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
		def(ageColumn),
	)

	// metricsColumns are metrics-server's columns of PodMetrics and NodeMetrics.
	metricsColumns = cols(def(nameColumn),
		col("CPU", "string", "CPU usage"),
		col("Memory", "string", "Memory usage"),
		col("Window", "string", "The interval over which the usage was measured"),
	)
)
