"""The stress and verification harness for file-based, multi-process task queues."""
