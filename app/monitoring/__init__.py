"""Watching what is actually published (art. 15): reconciliation of what is online with
what was approved (WeChat's API, and the feeds of platforms without one), screening of
what is online, and the handling of the alerts they raise."""
