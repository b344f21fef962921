"""What the README and the documentation tell a reader to type is real: every `CDS_*` name is a
setting, every `cds-service` command line parses, every `make` target exists, and every JSON or
YAML example parses and, where it is a trust file or part of a policy, passes the service's own
validation. Cheap: nothing is served."""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from cds_service.api.cors import allowed_origins
from cds_service.auth.trust import load_trust
from cds_service.cli import build_parser
from cds_service.config import Settings, settings_error
from cds_service.errors import ConfigurationError
from cds_service.payer.models import LineOfBusiness, PayerConfig
from cds_service.policy.models import DiagnosisGroup, Policy
from tests.support import ROOT, settings_for

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

#: `CDS_*` names the documentation may use that are not settings, and why. Names starting
#: `CDS_TEST` are the test suite's own (`CDS_TEST_POSTGRES_URL`), never read by the service.
NOT_SETTINGS = {
    "CDS_DATABSE_URL": "a mistyped CDS_DATABASE_URL: an example of a mistake start-up refuses",
    "CDS_SERVICE_HOST": "set by Kubernetes for a Service named cds-service (service links)",
    "CDS_SERVICE_PORT": "set by Kubernetes for a Service named cds-service (service links)",
}


def is_setting_or_known_other(name: str, settings: set[str]) -> bool:
    return name in settings or name in NOT_SETTINGS or name.startswith("CDS_TEST")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    text: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def fenced_blocks(pages: list[Path] = PAGES) -> list[Block]:
    """Fenced code blocks, also those indented under a list item."""
    blocks = []
    for page in pages:
        text = page.read_text()
        for m in re.finditer(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", text, re.M | re.S):
            body = "\n".join(line.removeprefix(m.group(1)) for line in m.group(3).splitlines())
            blocks.append(Block(page, text.count("\n", 0, m.start()) + 1, m.group(2), body))
    return blocks


def test_every_cds_name_in_the_docs_is_a_setting() -> None:
    settings = {f"CDS_{name.upper()}" for name in Settings.model_fields}
    unknown = {f"{page.relative_to(ROOT)}: {name}" for page in PAGES
               for name in re.findall(r"\bCDS_[A-Z0-9_]*[A-Z0-9]", page.read_text())
               if not is_setting_or_known_other(name, settings)}
    assert not unknown, sorted(unknown)
    assert not settings & set(NOT_SETTINGS)
    assert not any(name.startswith("CDS_TEST") for name in settings)


# -- command lines ---------------------------------------------------------------------------------

def shell_lines(block: Block) -> list[str]:
    """The block's lines with backslash continuations joined, prompts (`$ `) dropped."""
    joined = re.sub(r"\\\n\s*", " ", block.text)
    return [line.strip().removeprefix("$ ") for line in joined.splitlines()]


SHELL = ("sh", "bash", "shell", "console", "")
OPERATOR = re.compile(r"[();<>|&]+")
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")


def commands(line: str, program: str) -> list[list[str]]:
    """Each `program ...` in command position in a shell line (after nothing but variable
    assignments; also as `.venv/bin/program`), its arguments up to the next shell operator or
    comment."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words = list(lexer)
    found = []
    at_start = True
    for i, word in enumerate(words):
        if OPERATOR.fullmatch(word):
            at_start = True
        elif at_start and ASSIGNMENT.fullmatch(word):
            continue
        elif at_start:
            at_start = False
            if word.rsplit("/", 1)[-1] == program:
                args = []
                for arg in words[i + 1:]:
                    if OPERATOR.fullmatch(arg):
                        break
                    args.append(arg)
                found.append(args)
    return found


def block_commands(block: Block, program: str) -> list[list[str]]:
    """A shell block's lines must lex; an output block's (`text`) may hold anything."""
    found = []
    for line in shell_lines(block):
        if program not in line or line.startswith("usage:"):  # usage: the command reference
            continue
        # A command substitution is a command line of its own, even inside double quotes.
        substituted = re.findall(r"\$\(([^()]*)\)", line)
        try:
            for part in (re.sub(r"\$\([^()]*\)", "SUBSTITUTED", line), *substituted):
                found += commands(part, program)
        except ValueError:
            if block.lang in SHELL:
                raise
    return found


def cli_commands() -> list[tuple[Block, list[str]]]:
    return [(block, args) for block in fenced_blocks()
            for args in block_commands(block, "cds-service")]


def test_the_docs_show_cds_service_commands() -> None:
    shown = {args[0] for _, args in cli_commands() if args}
    assert {"serve", "token", "evaluate", "policy", "dev-client"} <= shown
    assert ["token", "--service", "crd-order-sign"] in [args for _, args in cli_commands()]


@pytest.mark.parametrize(("block", "args"), cli_commands(),
                         ids=lambda v: " ".join(v) if isinstance(v, list) else str(v))
def test_every_cds_service_command_line_parses(block: Block, args: list[str]) -> None:
    try:
        build_parser().parse_args(args)
    except SystemExit as exc:  # argparse's way of refusing a command line
        pytest.fail(f"{block}: cds-service {shlex.join(args)} does not parse (exit {exc.code})")


def test_a_command_line_the_cli_would_refuse_is_caught() -> None:
    [[args]] = [commands(line, "cds-service") for line in shell_lines(
        Block(ROOT, 1, "sh", "CDS_X=1 .venv/bin/cds-service serve \\\n  --prot 8081  # typo"))]
    assert args == ["serve", "--prot", "8081"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(args)


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", makefile, re.M))


def test_every_make_target_in_the_docs_exists() -> None:
    targets = make_targets()
    used = {(str(block), word) for block in fenced_blocks()
            for args in block_commands(block, "make") for word in args if "=" not in word}
    used |= {(page.name, target) for page in PAGES
             for target in re.findall(r"`make ([a-z][\w-]*)", page.read_text())}
    assert {"run", "test"} <= {target for _, target in used}
    assert not {(where, t) for where, t in used if t not in targets}


# -- settings on command lines ---------------------------------------------------------------------

def assignments(line: str) -> dict[str, str]:
    """The `CDS_*=value` words in front of a `cds-service` or `make` command."""
    lexer = shlex.shlex(re.sub(r"\$\([^()]*\)", "SUBSTITUTED", line), posix=True,
                        punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    found: dict[str, str] = {}
    for word in lexer:
        if ASSIGNMENT.fullmatch(word):
            name, value = word.split("=", 1)
            found[name] = value
        elif word.rsplit("/", 1)[-1] in ("cds-service", "make"):
            return {k: v for k, v in found.items()
                    if k.startswith("CDS_") and k not in NOT_SETTINGS
                    and not k.startswith("CDS_TEST")}
        else:
            found = {}
    return {}


def settings_lines() -> list[tuple[Block, dict[str, str]]]:
    return [(block, values) for block in fenced_blocks() if block.lang in SHELL
            for line in shell_lines(block)
            if re.match(r"\w+=", line) and (values := assignments(line))]


def trust_example_before(block: Block) -> str:
    """The trust file a walkthrough told the reader to write: its page's last example above."""
    above = [b for b in trust_examples() if b.page == block.page and b.line < block.line]
    assert above, f"{block}: names a trust file, but its page shows none above"
    return above[-1].text


def start_up_checks(values: dict[str, str], block: Block, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    """What start-up checks of these settings before serving: each value, the CORS origins
    and the trust file (files the reader was told to make are made from the page)."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("CDS_")]:
        monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
        target = tmp_path / value
        if name == "CDS_TRUSTED_CLIENTS":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(trust_example_before(block))
        elif name == "CDS_POLICY_DIR":
            target.mkdir(parents=True, exist_ok=True)
        elif name in ("CDS_TLS_CERT_FILE", "CDS_TLS_KEY_FILE", "CDS_PAYER_FILE"):
            values[name] = str(tmp_path / value.lstrip("/"))
            monkeypatch.setenv(name, values[name])
            Path(values[name]).parent.mkdir(parents=True, exist_ok=True)
            Path(values[name]).touch()
    try:
        settings = Settings()
    except ValidationError as exc:
        raise settings_error(exc) from None
    allowed_origins(settings)
    load_trust(settings)


@pytest.mark.parametrize(("block", "values"), settings_lines(),
                         ids=lambda v: " ".join(v) if isinstance(v, dict) else str(v))
def test_the_settings_a_command_line_sets_pass_start_up_checks(
        block: Block, values: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A walkthrough that sets settings works as written; a block showing a refusal (its
    `configuration error` line) is refused."""
    if "configuration error" in block.text:
        with pytest.raises(ConfigurationError):
            start_up_checks(dict(values), block, tmp_path, monkeypatch)
    else:
        start_up_checks(dict(values), block, tmp_path, monkeypatch)


def test_the_local_sandbox_line_without_development_would_be_caught(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values = assignments("CDS_TRUST_SANDBOX=true CDS_CORS_ORIGINS='[\"http://localhost:8080\"]' "
                         "CDS_PUBLIC_BASE_URL=http://127.0.0.1:8081 make run PORT=8081")
    assert values["CDS_CORS_ORIGINS"] == '["http://localhost:8080"]'
    with pytest.raises(ConfigurationError, match="CDS_CORS_ORIGINS"):
        start_up_checks(values, Block(ROOT, 1, "sh", ""), tmp_path, monkeypatch)


# -- JSON and YAML examples ------------------------------------------------------------------------

def data_blocks() -> list[Block]:
    return [b for b in fenced_blocks() if b.lang in ("json", "yaml", "yml")]


def documents(block: Block) -> list[Any]:
    """The example's documents: a policy file may hold several versions, separated by ``---``."""
    if block.lang == "json":
        return [json.loads(block.text)]
    return list(yaml.safe_load_all(block.text))


def parse(block: Block) -> Any:
    return documents(block)[0]


@pytest.mark.parametrize("block", data_blocks(), ids=str)
def test_every_json_and_yaml_example_parses_and_validates(block: Block, tmp_path: Path) -> None:
    for data in documents(block):
        assert isinstance(data, dict), f"{block}: not a mapping"
        if "clients" in data:  # a trust file: as the service loads it (http URLs need development)
            path = tmp_path / "trust.yaml"
            path.write_text(block.text)
            assert load_trust(settings_for(tmp_path, trusted_clients=path)), str(block)
        elif set(data) == {"diagnoses"}:  # an indication's diagnoses, as in a policy file
            TypeAdapter(list[DiagnosisGroup]).validate_python(data["diagnoses"])
        elif set(data) == {"lines_of_business"}:  # the payer file's lines of business
            TypeAdapter(list[LineOfBusiness]).validate_python(data["lines_of_business"])
        elif set(data) <= set(PayerConfig.model_fields):
            PayerConfig.model_validate(data)
        elif set(data) <= set(Policy.model_fields) | {"schema"}:
            Policy.model_validate(data)
        else:
            pytest.fail(f"{block}: an example of no file the service reads: {sorted(data)}")


def test_the_docs_show_trust_files_and_policy_examples() -> None:
    kinds = [next(iter(parse(b))) for b in data_blocks()]
    assert kinds.count("clients") >= 2
    assert "diagnoses" in kinds


def trust_examples() -> list[Block]:
    return [b for b in data_blocks() if "clients" in parse(b)]


def test_a_trust_file_example_with_http_urls_is_refused_in_production(tmp_path: Path) -> None:
    """The docs keep http key servers and FHIR servers to development, as start-up does."""
    for block in trust_examples():
        path = tmp_path / "trust.yaml"
        path.write_text(block.text)
        production = settings_for(tmp_path, trusted_clients=path, environment="production",
                                  auth_enabled=True)
        if "http://" in block.text:
            with pytest.raises(ConfigurationError):
                load_trust(production)
        else:
            assert load_trust(production), str(block)


def test_an_invalid_trust_file_example_would_be_caught(tmp_path: Path) -> None:
    path = tmp_path / "trust.yaml"
    path.write_text("clients:\n  - iss: https://ehr.example.org\n    algorithms: [HS256]\n")
    with pytest.raises(ConfigurationError):
        load_trust(settings_for(tmp_path, trusted_clients=path))
