// Package speaker is the root of the per-node announcer's packages. The
// permissions below are everything a speaker may do; `make manifests` turns
// them into config/rbac/speaker.
//
// Cluster-wide: it reads Services, their EndpointSlices and the Nodes (to
// elect the announcing node) and records Events. It never writes a Service.
//
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// Secure /metrics asks the apiserver who a scraper is and whether it may read:
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
//
// In its own namespace: it finds the other speakers' pods (memberlist
// discovery), reads the configuration and the BGP password Secrets, and owns
// the ServiceL2Status and ServiceBGPStatus objects.
//
// +kubebuilder:rbac:groups="",namespace=metallb-system,resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",namespace=metallb-system,resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=metallb.io,namespace=metallb-system,resources=ipaddresspools;l2advertisements;bgpadvertisements;bgppeers;communities;bfdprofiles,verbs=get;list;watch
// +kubebuilder:rbac:groups=metallb.io,namespace=metallb-system,resources=servicel2statuses;servicebgpstatuses,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=metallb.io,namespace=metallb-system,resources=servicel2statuses/status;servicebgpstatuses/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=metallb.io,namespace=metallb-system,resources=configurationstates,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=metallb.io,namespace=metallb-system,resources=configurationstates/status,verbs=get;update;patch
package speaker
