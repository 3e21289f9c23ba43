"""``python -m tools.cluster up|down|status`` (`make cluster`): the command line of core.Cluster."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tools.cluster.core import Cluster
from tools.cluster.services import NAMES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The Yunying topology on loopback ports.")
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("CLUSTER_DIR", "var/cluster")))
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("CLUSTER_PORT_BASE", "8800")))
    parser.add_argument("--database", default=os.environ.get("CLUSTER_DATABASE", "yunying_cluster"))
    parser.add_argument("--vhost", default=os.environ.get("CLUSTER_VHOST", "yunying-cluster"))
    parser.add_argument("--private", action="store_true",
                        help="up: PostgreSQL, Redis and RabbitMQ of its own on BASE+3…BASE+6 (faults may stop them)")
    parser.add_argument("--purge", action="store_true", help="down: also drop the database, vhost and files")
    args = parser.parse_args(argv)
    if args.action == "up":
        cluster = Cluster(args.dir, port_base=args.port_base, database=args.database, vhost=args.vhost,
                          private=NAMES if args.private else ())
        try:
            cluster.up()
        except Exception as exc:  # noqa: BLE001 - whatever failed, say it and take down what started
            print(f"cluster: {exc}", file=sys.stderr)
            cluster.down()
            return 1
        print(json.dumps({"proxy": cluster.url, "web": [cluster.node_url(n) for n in range(2)],
                          "private": list(cluster.private), "logs": str(cluster.root / "logs")}))
        return 0
    if not (args.dir / "state.json").exists():
        print(f"cluster: nothing started in {args.dir}", file=sys.stderr)
        return 0
    cluster = Cluster.attach(args.dir)
    if args.action == "down":
        cluster.down(purge=args.purge)
    else:
        print(json.dumps(cluster.status()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
