"""A stand-in for the MPCS image in the local runner's own tests: a process the runner starts in
place of `python -m mpcs.cli`, so a test can choose what its probes answer.

It serves `/healthz` and `/readyz` on MPCS_METRICS_PORT, then asks the apiserver who it is
(SelfSubjectReview) with the KUBECONFIG it was given and prints one JSON line `{"whoami": …}` —
the identity the process really has, not the one the runner meant to give it.

    fake_pod.py [--healthz CODE] [--ready-file PATH]

`/readyz` answers 200 while PATH exists (always, without `--ready-file`), 503 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def whoami() -> dict[str, Any]:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=os.environ["KUBECONFIG"])
    try:
        review = client.AuthenticationV1Api(api).create_self_subject_review(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        )
        info = review.status.user_info
        return {"whoami": info.username, "groups": info.groups}
    except client.exceptions.ApiException as exc:
        return {"whoami": None, "error": f"{exc.status} {exc.reason}"}
    finally:
        api.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--healthz", type=int, default=200)
    parser.add_argument("--ready-file", type=Path, default=None)
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                code = args.healthz
            elif self.path == "/readyz":
                code = 200 if args.ready_file is None or args.ready_file.exists() else 503
            else:
                code = 404
            self.send_response(code)
            self.end_headers()

        def log_message(self, format: str, *rest: Any) -> None:
            pass

    # Serving before anything slow, so a probe's verdict is about what it answers.
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["MPCS_METRICS_PORT"])), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({**whoami(), "pid": os.getpid()}), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
