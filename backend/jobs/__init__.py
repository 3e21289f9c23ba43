"""Background work: a transactional outbox, its relay, and the runners (in-process or Celery)."""
