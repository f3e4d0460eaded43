"""Queues the harness can stress: the backend protocol (``protocol``), the built-in ones
(``builtin``: this project's queue, the original's, the mutants), adapters for the peers'
libraries (``peers``), the registry that finds any of them, or anyone's, by name
(``registry``), and the Redis server the Redis adapters can use (``redis_server``)."""
