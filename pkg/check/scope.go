package check

// clusterScoped reports the cluster-scoped kinds check knows; offline there
// is no discovery to ask. Every other kind is namespaced, which only matters
// for the namespace reported and looked up.
func clusterScoped(group, kind string) bool {
	switch group + "/" + kind {
	case "/Namespace", "/Node", "/PersistentVolume", "/ComponentStatus",
		"rbac.authorization.k8s.io/ClusterRole", "rbac.authorization.k8s.io/ClusterRoleBinding",
		"apiextensions.k8s.io/CustomResourceDefinition", "apiregistration.k8s.io/APIService",
		"storage.k8s.io/StorageClass", "storage.k8s.io/CSIDriver", "storage.k8s.io/CSINode",
		"storage.k8s.io/VolumeAttachment", "networking.k8s.io/IngressClass",
		"scheduling.k8s.io/PriorityClass", "node.k8s.io/RuntimeClass",
		"certificates.k8s.io/CertificateSigningRequest",
		"admissionregistration.k8s.io/MutatingWebhookConfiguration",
		"admissionregistration.k8s.io/ValidatingWebhookConfiguration",
		"admissionregistration.k8s.io/ValidatingAdmissionPolicy",
		"admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding",
		"admissionregistration.k8s.io/MutatingAdmissionPolicy",
		"admissionregistration.k8s.io/MutatingAdmissionPolicyBinding",
		"gateway.networking.k8s.io/GatewayClass":
		return true
	}
	return false
}
