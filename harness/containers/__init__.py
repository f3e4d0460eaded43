"""Stress runs whose workers are containers: on a Docker engine, or on a Kubernetes cluster."""
