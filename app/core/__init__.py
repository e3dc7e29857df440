"""The kernel: errors, keys, the store, settings, Redis, audit and alerts. Imports no feature."""
