// Package controllers holds the controller's reconcilers: Services (IP
// assignment), the metallb.io configuration, and pool status. The permissions
// below are everything the controller may do; `make manifests` turns them into
// config/rbac/controller.
//
// Cluster-wide: it reads and updates LoadBalancer Services and their status,
// reads Namespaces (for serviceAllocation.namespaceSelectors), records Events,
// and keeps the caBundle of its own webhook and CRD conversion current.
//
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups="",resources=services/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch;update;patch
// Secure /metrics asks the apiserver who a scraper is and whether it may read:
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
//
// In its own namespace: it reads the configuration, writes pool status,
// keeps the webhook certificate in a Secret and creates the memberlist one.
//
// +kubebuilder:rbac:groups=metallb.io,namespace=metallb-system,resources=ipaddresspools;l2advertisements;bgpadvertisements;bgppeers;communities;bfdprofiles,verbs=get;list;watch
// +kubebuilder:rbac:groups=metallb.io,namespace=metallb-system,resources=ipaddresspools/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",namespace=metallb-system,resources=secrets,verbs=get;list;watch;create;update;patch
// It reports whether it runs on a valid configuration (ConfigurationState):
// +kubebuilder:rbac:groups=metallb.io,namespace=metallb-system,resources=configurationstates,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=metallb.io,namespace=metallb-system,resources=configurationstates/status,verbs=get;update;patch
// It creates the memberlist Secret owned by its own Deployment:
// +kubebuilder:rbac:groups=apps,namespace=metallb-system,resources=deployments,verbs=get
// With --leader-elect, its replicas take turns through a Lease:
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=metallb-system,resources=leases,verbs=get;create;update
package controllers
