"""The `ivr` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from ivr.core.config import Config, load_config
from ivr.core.errors import IvrError

_DEFAULT_CONFIG = "config.toml"


def _config(args: argparse.Namespace) -> tuple[Config, list[str]]:
    path = args.config
    return load_config(path), (["--config", path] if path else [])


def _config_or_defaults(args: argparse.Namespace) -> Config:
    """The --config file; the defaults when the default ./config.toml is absent (model commands run anywhere)."""
    from pathlib import Path

    explicit = args.config != _DEFAULT_CONFIG
    return load_config(args.config if explicit or Path(args.config).is_file() else None)


def _cmd_serve(args: argparse.Namespace) -> int:
    from ivr.app import serve
    from ivr.logs import setup_logging

    config, config_args = _config(args)
    setup_logging(config.log.level, config.log.file)
    return asyncio.run(serve(config, config_args))


def _cmd_worker(args: argparse.Namespace) -> int:
    # A worker imports only what it runs: every MB here is multiplied by the number of workers.
    from ivr.logs import setup_logging
    from telephony.worker import run_worker

    config, _ = _config(args)
    setup_logging(config.log.level, config.log.file, role=f"worker-w{args.index}")
    return run_worker(config.sip, config.workers, args.index, args.standalone)


def _cmd_call(args: argparse.Namespace) -> int:
    from ivr.caller import main as caller_main

    return caller_main(args)


def _cmd_flows(args: argparse.Namespace) -> int:
    from flows import cli

    if args.flows_command == "validate":
        return cli.validate_main(args.file)
    if args.flows_command == "simulate":
        return cli.simulate_main(args.file)
    if args.flows_command == "publish":
        from ivr.flows_cli import publish_main

        return publish_main(_config(args)[0], args.file, note=args.note)
    return cli.test_main(args.paths or ["flows"], verbose=args.verbose)


def _cmd_models(args: argparse.Namespace) -> int:
    from asr import models

    if args.models_command == "prepare":
        return _prepare_models(args)
    command = {"list": ["installed"], "available": ["list"], "download": ["download", getattr(args, "model", "")]}
    if args.models_command == "download":
        vosk_cache = _config_or_defaults(args).asr.vosk.cache_dir  # where `ivr serve` will look for it
        command["download"] += ["--dest", vosk_cache] if vosk_cache else []
    return models.main(command[args.models_command])


def _prepare_models(args: argparse.Namespace) -> int:
    import logging

    from asr.engines import prepare_models
    from ivr.logs import setup_logging

    config = _config_or_defaults(args)
    setup_logging(config.log.level, "")  # to the terminal: the conversion says what it does and how long it took
    logging.getLogger("asr").setLevel(logging.INFO)
    print(prepare_models(config.asr_section()))
    return 0


def _cmd_users(args: argparse.Namespace) -> int:
    from ivr.users_cli import main as users_main

    config, _ = _config(args)
    if args.users_command == "list":
        return users_main(config, "list")
    return users_main(config, "add", args.name, args.role, args.display_name)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of every `ivr` subcommand."""
    parser = argparse.ArgumentParser(prog="ivr", description="On-premises voice IVR")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", default=_DEFAULT_CONFIG, help="configuration file (default: ./config.toml)")
        return p

    p = with_config(sub.add_parser("serve", help="run the IVR (control process, media workers, Kamailio)"))
    p.set_defaults(func=_cmd_serve)

    p = with_config(sub.add_parser("worker", help="run one media worker (started by `ivr serve`)"))
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--standalone", action="store_true", help="listen on the public SIP port (no Kamailio)")
    p.set_defaults(func=_cmd_worker)

    flows = sub.add_parser("flows", help="validate, simulate and test call flows")
    fsub = flows.add_subparsers(dest="flows_command", required=True)
    p = fsub.add_parser("validate", help="check a flow file; problems are listed with line and fix")
    p.add_argument("file")
    p = fsub.add_parser("simulate", help="run a flow in the terminal: type what the caller says, or #digits")
    p.add_argument("file")
    p = fsub.add_parser("test", help="run the *.tests.yaml cases that ship next to flows")
    p.add_argument("paths", nargs="*", help="flow files, test files or directories (default: flows/)")
    p.add_argument("-v", "--verbose", action="store_true")
    p = with_config(fsub.add_parser("publish", help="validate and test a flow file, then make it live in the database "
                                    "(running servers pick it up)"))  # fmt: skip
    p.add_argument("--note", default="", help="what changed, shown in the version list")
    p.add_argument("file")
    flows.set_defaults(func=_cmd_flows)

    models = sub.add_parser("models", help="speech models: list, download (Vosk), prepare (set-up)")
    msub = models.add_subparsers(dest="models_command", required=True)
    msub.add_parser("list", help="speech models installed on this machine")
    msub.add_parser("available", help="Vosk models available for download (needs the network)")
    p = with_config(msub.add_parser("download", help="download and install a Vosk model into [asr.vosk] cache_dir, "
                                    "e.g. `ivr models download en-us` (needs the network)"))  # fmt: skip
    p.add_argument("model", help="a language (en-us, de, ko ...) or an exact model name")
    with_config(msub.add_parser("prepare", help="one-time set-up of the configured engine's models (the Moonshine "
                                "conversion into [asr] model_cache_dir, 30-120 s); scripts/setup runs it"))  # fmt: skip
    models.set_defaults(func=_cmd_models)

    users = sub.add_parser("users", help="console users: add one (password from a prompt or stdin), list them")
    usub = users.add_subparsers(dest="users_command", required=True)
    p = with_config(usub.add_parser("add", help="create a console user; the password is read from a prompt or stdin"))
    p.add_argument("name", help="user name to log in with")
    p.add_argument("--role", required=True, choices=["admin", "supervisor", "qa", "agent"])
    p.add_argument("--display-name", default="", help="name shown in the console")
    with_config(usub.add_parser("list", help="list console users and their roles"))
    users.set_defaults(func=_cmd_users)

    from ivr.caller import add_arguments

    p = sub.add_parser("call", help="scripted SIP caller: play, speak, send DTMF, record what it hears")
    add_arguments(p)
    p.set_defaults(func=_cmd_call)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ivr` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except IvrError as exc:
        print(f"ivr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
