"""Monitoring: what actually went online, checked against what was reviewed."""
