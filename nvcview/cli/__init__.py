"""The ``nvcview`` command.

Each sub-command lives in its own module ``nvcview/cli/<name>.py`` exposing
``HELP: str``, ``add_arguments(parser)`` and ``run(args) -> int``. Errors derived
from :class:`nvcview.errors.NvcviewError` (and OSError) print one line on stderr
and exit 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from nvcview import __version__

#: sub-command -> module under nvcview.cli (module names avoid clashing with builtins)
COMMANDS = {
    "info": "info_cmd",
    "convert": "convert_cmd",
    "sample": "sample_cmd",
    "distance": "distance_cmd",
    "measure": "measure_cmd",
    "report": "report_cmd",
    "demo": "demo_cmd",
    "batch": "batch_cmd",
    "agreement": "agreement_cmd",
    "view": "view_cmd",
    "scene": "scene_cmd",
    "register": "register_cmd",
    "segment": "segment_cmd",
}


def _load_modules(only: str | None = None) -> dict:
    """Import the sub-command modules (only ``only``'s when the command is known)."""
    mods = {}
    for name, modname in COMMANDS.items():
        if only is not None and name != only:
            continue
        try:
            mods[name] = importlib.import_module(f"nvcview.cli.{modname}")
        except ModuleNotFoundError as exc:
            if exc.name == f"nvcview.cli.{modname}":
                continue  # sub-command not built in this version
            raise
    return mods


def _command_in(argv: list[str] | None) -> str | None:
    """The sub-command named on the command line (first non-option word), if any."""
    words = sys.argv[1:] if argv is None else argv
    for word in words:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(
        prog="nvcview",
        description="Neurovascular conflict review of the facial nerve on CPA MRI.",
    )
    parser.add_argument("--version", action="version", version=f"nvcview {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    mods = _load_modules(only)
    for name, mod in mods.items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        p.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show tracebacks and debug logs",
        )
        mod.add_arguments(p)
    return parser, mods


def main(argv: list[str] | None = None) -> int:
    from nvcview.errors import NvcviewError

    # a known sub-command imports only its own module (`nvcview info` pays for no other)
    parser, mods = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(mods[args.command].run(args) or 0)
    except (NvcviewError, OSError, ValueError) as exc:
        if debug:
            raise
        message = str(exc)
        if args.command == "report" and getattr(args, "deidentify", False):  # no paths, UIDs
            from nvcview.report.deidentify import scrub_error_message

            message = scrub_error_message(message, [getattr(args, "review", "") or ""])
        print(f"nvcview {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
