"""Throughput benchmarks of this project's queue against what users would pick instead."""
