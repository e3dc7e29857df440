"""Watching what is actually published (art. 15): reconciliation of what is online with
what was approved, screening of what is online, and the handling of the alerts they raise."""
