"""RQ job functions (``jobs``) and the worker entry point (``worker``)."""
