"""The Pod's roles: producer, consumer and monitor, and what they share."""
