"""The settings and command reference pages of the documentation site, written from the code.

``Settings`` (config.py) and the ``cds-service`` parser (cli.py) are the one source of truth:
each setting's docstring, default and accepted form, each command's help. ``python -m
cds_service.docs_reference`` rewrites docs/reference/; ``--check`` exits 1 when a committed page
differs from what the code says (tests/test_docs.py does the same).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from enum import Enum
from pathlib import Path

from pydantic.fields import FieldInfo

from cds_service.cli import build_parser
from cds_service.config import Settings, _accepted_form

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"
_GENERATED = ("<!-- Written by `python -m cds_service.docs_reference` from {source}: edit the "
              "code, then run it again (a test fails when this page and the code differ). -->")

_SETTINGS_INTRO = """\
All settings are environment variables with the prefix `CDS_`.

A bad value stops every command that reads the settings (`serve`, `evaluate`, `policy check`,
`token`, `db`, `records`) before it does anything, with exit status 2 and one line per bad
setting naming the variable, its value (never that of `CDS_DATABASE_URL`, which may hold a
password, nor of `CDS_OPERATOR_TOKEN_SHA256`, where a token may have been pasted), what is wrong
and the accepted form, for example:

```
$ CDS_MAX_BODY_BYTES=abc cds-service serve
configuration error in CDS_MAX_BODY_BYTES: 'abc': input should be a valid integer, unable to \
parse string as an integer; expected a whole number greater than 0
```

A `CDS_` variable that is not a setting is refused the same way, naming the closest setting, so
a mistyped name never leaves its setting silently at the default:

```
$ CDS_DATABSE_URL=postgresql+psycopg://cds:...@db/cds cds-service serve
configuration error in CDS_DATABSE_URL: not a setting; did you mean CDS_DATABASE_URL? (every \
CDS_ variable is read as a setting)
```

Variables starting with `CDS_TEST_` are left to the test suite. Under Kubernetes, a Service whose
name starts with `cds` gives every pod variables such as `CDS_SERVICE_PORT`; the refusal says
so, and the pod specs in `deploy/kubernetes/` set `enableServiceLinks: false`.

Booleans take `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`); list settings take a
comma-separated value or a JSON list; file and directory settings must name one that exists. A
records database that cannot be created or reached (an SQLite directory that cannot be made,
PostgreSQL down) is reported the same way by `serve`, `db` and `records`.
"""

_COMMANDS_INTRO = """\
`cds-service COMMAND --help` prints the same as each section below. Every command reads the
[settings](settings.md) from `CDS_*` environment variables; nonsensical option values
(`--workers 0`, `--port 70000`) are refused with a usage message and exit status 2.
"""


def settings_page() -> str:
    lines = ["# Settings reference", "", _GENERATED.format(source="cds_service/config.py"), "",
             _SETTINGS_INTRO.rstrip()]
    for name, field in Settings.model_fields.items():
        accepts = _accepted_form(field)
        lines += ["", f"## `CDS_{name.upper()}`", "",
                  f"Default: {_default(field)}." + ("" if accepts == "text" else
                                                    f" Accepts: {accepts}."), "",
                  _one_line(field.description or "")]
    return "\n".join(lines) + "\n"


def commands_page() -> str:
    parser = build_parser()
    commands = list(_leaves(parser, "cds-service"))
    lines = ["# Command reference", "", _GENERATED.format(source="cds_service/cli.py"), "",
             _COMMANDS_INTRO, "| command | what it does |", "|---|---|"]
    lines += [f"| [`{name}`](#{_anchor(name)}) | {_cell(summary)} |"
              for name, summary, _ in commands]
    for name, _, command in commands:
        lines += ["", f"## {name}", "", _one_line(command.description or ""), "", "```text",
                  _usage(command), "```"]
        arguments = [a for a in command._actions if not isinstance(a, argparse._HelpAction)]
        if arguments:
            lines += ["", "| argument | meaning |", "|---|---|"]
            formatter = argparse.HelpFormatter(command.prog)
            for action in arguments:
                invocation = formatter._format_action_invocation(action)
                meaning = formatter._expand_help(action) if action.help else ""
                lines.append(f"| `{invocation}` | {_cell(meaning)} |")
    return "\n".join(lines) + "\n"


PAGES = {"settings.md": settings_page, "commands.md": commands_page}


def stale_pages(directory: Path = REFERENCE) -> list[Path]:
    """The pages whose committed text differs from what the code says now."""
    return [directory / name for name, page in PAGES.items()
            if not (directory / name).is_file() or (directory / name).read_text() != page()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cds_service.docs_reference",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a page differs from the code")
    args = parser.parse_args(argv)
    stale = stale_pages()
    if args.check:
        for path in stale:
            sys.stderr.write(f"{path} differs from the code: run python -m "
                             "cds_service.docs_reference\n")
        return 1 if stale else 0
    REFERENCE.mkdir(parents=True, exist_ok=True)
    for path in stale:
        path.write_text(PAGES[path.name]())
        sys.stderr.write(f"wrote {path}\n")
    return 0


def _default(field: FieldInfo) -> str:
    value = field.default
    if value is None:
        return "unset"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        value = str(value).lower()
    if isinstance(value, list | tuple | set | frozenset) and not value:
        return "empty"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def _leaves(parser: argparse.ArgumentParser, prefix: str,
            summary: str = "") -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """Each runnable command: its full name, its one-line help, its parser."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield prefix, summary, parser
    for group in groups:
        helps = {choice.dest: choice.help or "" for choice in group._choices_actions}
        for name, child in group.choices.items():
            yield from _leaves(child, f"{prefix} {name}", helps.get(name, ""))


def _usage(parser: argparse.ArgumentParser) -> str:
    # A fixed width, so the page does not depend on the terminal it was written from.
    formatter = argparse.HelpFormatter(parser.prog, width=100)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _anchor(heading: str) -> str:
    # MkDocs' default slug (Python-Markdown's toc): lower case, spaces to hyphens.
    return "-".join(heading.lower().split())


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")


if __name__ == "__main__":
    raise SystemExit(main())
