"""The whole topology on one machine (``make cluster``): see core.py; private PostgreSQL, Redis and
RabbitMQ for fault runs in services.py."""

from tools.cluster.core import Cluster

__all__ = ["Cluster"]
