"""`ticketbook fake-jira`: the simulated Jira Cloud site alone, on 127.0.0.1."""

from __future__ import annotations

import argparse
import sys

from tickets.errors import InputError


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a probability between 0 and 1")
    return value


def register(sub, common) -> None:
    """Add ``fake-jira`` to the sub-parsers."""
    p = sub.add_parser(
        "fake-jira", parents=[common], help="run the simulated Jira Cloud site on 127.0.0.1",
        description="Serve a simulated Jira Cloud site (platform and Service Management REST APIs) on "
                    "127.0.0.1 from a generated or loaded dataset. Ctrl-C stops it.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="FILE", help="load the dataset from a JSON data file (docs/fake-jira.md)")
    src.add_argument("--generate", metavar="N", type=int, default=None,
                     help="generate a site with N issues (default: 500)")
    p.add_argument("--port", type=int, default=0, help="TCP port (default: 0, an ephemeral port)")
    p.add_argument("--seed", type=int, default=1, help="seed of the generator and of the faults (default: 1)")
    p.add_argument("--email", default=None, help="account email accepted for Basic auth (default: demo@example.com)")
    p.add_argument("--token", default=None, help="API token accepted for Basic auth (default: demo-token)")
    p.add_argument("--faults", type=_probability, default=0.0, metavar="P",
                   help="inject a fault (429, 500, 503, slow, cut, malformed) into each request with probability P")
    p.add_argument("--fault-kinds", default=None, metavar="K1,K2",
                   help="restrict --faults to these kinds (comma-separated)")
    p.add_argument("--lag", type=float, default=0.0, metavar="SECONDS",
                   help="search results lag writes by this many seconds")
    p.add_argument("--churn", type=float, default=0.0, metavar="SECONDS",
                   help="make one random change (issue or worklog) every SECONDS, for incremental syncs")
    p.add_argument("--dump", metavar="FILE", help="write the dataset to FILE (JSON data format) and exit")
    p.add_argument("--verbose", action="store_true", help="log every request on stderr")
    p.set_defaults(handler=run_fake_jira)


def run_fake_jira(args: argparse.Namespace) -> int:
    from cache.fakejira import DEMO_EMAIL, DEMO_TOKEN, FakeJira, Faults, dump_site, generate_site, load_site
    from cache.fakejira.faults import KINDS

    if args.port < 0 or args.port > 65535:
        raise InputError(f"--port {args.port}: not a TCP port (0-65535)")
    if args.generate is not None and args.generate < 0:
        raise InputError(f"--generate {args.generate}: must be 0 or more")
    kinds = KINDS
    if args.fault_kinds:
        kinds = tuple(k.strip() for k in args.fault_kinds.split(",") if k.strip())
        bad = [k for k in kinds if k not in KINDS]
        if bad or not kinds:
            raise InputError(f"--fault-kinds: unknown kind {', '.join(bad) or '(none)'} (one of {', '.join(KINDS)})")
    site = load_site(args.data) if args.data else generate_site(500 if args.generate is None else args.generate,
                                                                seed=args.seed)
    site.search_lag_seconds = max(0.0, args.lag)
    if args.dump:
        try:
            dump_site(site, args.dump)
        except OSError as exc:
            raise InputError(f"--dump {args.dump}: cannot write: {exc.strerror or exc}") from None
        print(f"wrote {len(site.issues)} issues to {args.dump}")
        return 0
    email = args.email or DEMO_EMAIL
    token = args.token or DEMO_TOKEN
    fj = FakeJira(site, email=email, token=token, port=args.port,
                  faults=Faults(args.faults, seed=args.seed, kinds=kinds), verbose=args.verbose)
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    churn = None
    try:
        fj.start()
    except OSError as exc:
        from tickets.errors import RunError

        raise RunError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    try:
        print(f"Fake Jira Cloud site: {fj.url}  ({len(site.issues)} issues, "
              f"{len(site.projects)} projects, time zone {site.myself.timeZone})")
        print(f"  TICKETBOOK_JIRA_URL={fj.url}")
        print(f"  TICKETBOOK_JIRA_EMAIL={email}")
        print(f"  TICKETBOOK_JIRA_TOKEN={token if not args.token else '<the --token value>'}")
        if args.faults:
            print(f"  faults: {args.faults:g} per request ({', '.join(kinds)}), seed {args.seed}")
        if args.churn > 0:
            from cache.fakejira.churn import Churn

            churn = Churn(site, args.churn, seed=args.seed).start()
            print(f"  churn: one change every {args.churn:g} s")
        print("Press Ctrl-C to stop.", flush=True)
        fj.serve_forever()
    except KeyboardInterrupt:
        if churn is not None:
            churn.stop()
        fj.stop()
        print("\nstopped", file=sys.stderr)
    return 0
