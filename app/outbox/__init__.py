"""The outbox: the audit stream routed into RQ jobs, and the queues they go to."""
