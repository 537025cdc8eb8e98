// Package k8sstorage runs k8s.io/apiserver's etcd3 storage layer against Keel.
package k8sstorage
