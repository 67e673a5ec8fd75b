"""``python -m vertexdeploy.emulator``: serve in the foreground.

Options: ``--host --port --data-dir --workers N --operation-delay S --fault METHOD:CODE:COUNT``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vertexdeploy.errors import VertexDeployError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vertexdeploy.emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=Path(".vertexdeploy/emulator"))
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes serving predictions (default: $VERTEXDEPLOY_EMULATOR_WORKERS, else one "
        "per core)",
    )
    parser.add_argument("--operation-delay", type=float, default=0.0, metavar="S")
    parser.add_argument("--fault", action="append", default=[], metavar="METHOD:CODE:COUNT")
    args = parser.parse_args(argv)
    from vertexdeploy.emulator.faults import parse_spec
    from vertexdeploy.emulator.server import serve_forever
    from vertexdeploy.emulator.workers.pool import default_count

    try:
        rules = [parse_spec(spec) for spec in args.fault]
        workers = args.workers if args.workers is not None else default_count()
        serve_forever(
            args.data_dir,
            args.host,
            args.port,
            args.operation_delay,
            rules,
            workers=max(1, workers),
        )
    except VertexDeployError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
