"""Federation writes, split by concern: connections, events (outbox/inbox), jobs, nonces."""
