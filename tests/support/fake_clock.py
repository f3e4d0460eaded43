"""A clock for the queue's leases that moves only when a test says so."""


class FakeClock:
    """Seconds that pass only when a test says so."""

    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds
