"""Kubernetes manifests generated from the queue_core package: the Pod runs the tested code."""
