package api

// Default fills defaults in obj, like the apiserver's defaulting: namespace "default" for
// namespaced kinds, restartPolicy Always, replicas 1, strategy RollingUpdate 25%/25%,
// revisionHistoryLimit 10, progressDeadlineSeconds 600, protocol TCP, targetPort = port,
// service type ClusterIP, toleration operator Equal.
func Default(obj Object) {
	SetTypeMeta(obj)
	if ResourceOf(obj).Namespaced && obj.Meta().Namespace == "" {
		obj.Meta().Namespace = "default"
	}
	defaultRBAC(obj)
	switch o := obj.(type) {
	case *Pod:
		defaultPodSpec(&o.Spec)
		defaultPodRequests(&o.Spec)
		o.Status.QOSClass = PodQOSClass(&o.Spec)
	case *ReplicaSet:
		if o.Spec.Replicas == nil {
			o.Spec.Replicas = ptr(int32(1))
		}
		defaultPodSpec(&o.Spec.Template.Spec)
	case *Deployment:
		defaultDeployment(&o.Spec)
	case *DaemonSet:
		defaultDaemonSet(&o.Spec)
	case *StatefulSet:
		defaultStatefulSet(&o.Spec)
	case *ReplicationController:
		defaultReplicationController(o)
	case *HorizontalPodAutoscaler:
		defaultHorizontalPodAutoscaler(&o.Spec)
	case *Service:
		if o.Spec.Type == "" {
			o.Spec.Type = "ClusterIP"
		}
		if o.Spec.SessionAffinity == "" {
			o.Spec.SessionAffinity = "None"
		}
		defaultServiceSpec(&o.Spec)
		for i := range o.Spec.Ports {
			p := &o.Spec.Ports[i]
			if p.Protocol == "" {
				p.Protocol = "TCP"
			}
			if !p.TargetPort.IsString && p.TargetPort.IntVal == 0 {
				p.TargetPort = FromInt(p.Port)
			}
		}
	case *Job:
		defaultJobSpec(&o.Spec)
	case *CronJob:
		defaultCronJobSpec(&o.Spec)
	case *Secret:
		defaultSecret(o)
	case *PersistentVolume:
		defaultPersistentVolume(o)
	case *PersistentVolumeClaim:
		defaultPersistentVolumeClaim(o)
	case *StorageClass:
		defaultStorageClass(o)
	case *LimitRange:
		defaultLimitRange(o)
	case *Namespace:
		if o.Status.Phase == "" {
			o.Status.Phase = "Active"
		}
	}
}

func defaultDeployment(s *DeploymentSpec) {
	if s.Replicas == nil {
		s.Replicas = ptr(int32(1))
	}
	if s.Strategy.Type == "" {
		s.Strategy.Type = RollingUpdateStrategy
	}
	if s.Strategy.Type == RollingUpdateStrategy {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &RollingUpdateDeployment{}
		}
		if s.Strategy.RollingUpdate.MaxUnavailable == nil {
			s.Strategy.RollingUpdate.MaxUnavailable = ptr(FromString("25%"))
		}
		if s.Strategy.RollingUpdate.MaxSurge == nil {
			s.Strategy.RollingUpdate.MaxSurge = ptr(FromString("25%"))
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptr(int32(10))
	}
	if s.ProgressDeadlineSeconds == nil {
		s.ProgressDeadlineSeconds = ptr(int32(600))
	}
	defaultPodSpec(&s.Template.Spec)
}

func defaultPodSpec(s *PodSpec) {
	if s.RestartPolicy == "" {
		s.RestartPolicy = RestartAlways
	}
	if s.TerminationGracePeriodSeconds == nil {
		s.TerminationGracePeriodSeconds = ptr(int64(30))
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = "ClusterFirst"
	}
	if s.SchedulerName == "" {
		s.SchedulerName = "default-scheduler"
	}
	for i := range s.Tolerations {
		if s.Tolerations[i].Operator == "" {
			s.Tolerations[i].Operator = "Equal"
		}
	}
	for _, cs := range [][]Container{s.InitContainers, s.Containers} {
		for i := range cs {
			defaultContainer(&cs[i])
		}
	}
	defaultVolumes(s.Volumes)
}

func defaultContainer(c *Container) {
	for j := range c.Ports {
		if c.Ports[j].Protocol == "" {
			c.Ports[j].Protocol = "TCP"
		}
	}
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = "IfNotPresent"
	}
	for _, p := range []*Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p == nil {
			continue
		}
		if p.PeriodSeconds == 0 {
			p.PeriodSeconds = 10
		}
		if p.TimeoutSeconds == 0 {
			p.TimeoutSeconds = 1
		}
		if p.SuccessThreshold == 0 {
			p.SuccessThreshold = 1
		}
		if p.FailureThreshold == 0 {
			p.FailureThreshold = 3
		}
	}
}

func ptr[T any](v T) *T { return &v }
