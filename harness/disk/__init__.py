"""The storage checks: intercepted file calls, the power-loss model, crash points, injected
faults, their mutants and selftest."""
