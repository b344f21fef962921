"""A mistyped setting, in any command, is one line on stderr naming the variable, what is wrong
with the value and the accepted form, exit status 2 and no traceback. Driven through the real
``cds-service`` command in a subprocess, as an operator meets it; every setting has a case."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from pathlib import Path

import pytest

from cds_service.config import _SECRET, Settings, _accepted_form, _base_type, _is_list
from tests.ops.processes import CLI, environment, free_port

EXAMPLE_REQUEST = Path(__file__).resolve().parents[1] / "fhir_examples" / "requests" / \
    "order-sign-47383-medicare-advantage-hepatocellular-carcinoma.json"

#: variable -> (bad value, words the message must contain). {tmp} is the test's directory.
CASES: dict[str, tuple[str, str]] = {
    "CDS_ENVIRONMENT": ("staging", "expected one of production, development"),
    "CDS_PUBLIC_BASE_URL": ("notaurl", "not an absolute URL; expected the http(s) URL"),
    "CDS_POLICY_DIR": ("{tmp}/no-such-dir", "no such directory; expected a directory of policy"),
    "CDS_PAYER_FILE": ("{tmp}/no-such.yaml", "no such file; expected the path of a payer YAML"),
    "CDS_TRUSTED_CLIENTS": ("{tmp}/none.json", "no such file; expected the path of a JSON or"),
    "CDS_TLS_CERT_FILE": ("{tmp}/none.crt", "no such file; expected the path of a PEM cert"),
    "CDS_TLS_KEY_FILE": ("{tmp}/none.key", "no such file; expected the path of a PEM private"),
    "CDS_BEHIND_TLS_PROXY": ("perhaps", "expected true or false"),
    "CDS_MAX_BODY_BYTES": ("abc", "valid integer, unable to parse string as an integer; "
                                  "expected a whole number greater than 0"),
    "CDS_MAX_JSON_DEPTH": ("0", "expected a whole number greater than 0"),
    "CDS_AUTH_ENABLED": ("maybe", "expected true or false"),
    "CDS_TRUST_SANDBOX": ("sure", "expected true or false"),
    "CDS_DISCOVERY_PUBLIC": ("open", "expected true or false"),
    "CDS_JWT_LEEWAY_SECONDS": ("900", "expected a whole number at least 0 and at most 300"),
    "CDS_JWT_MAX_LIFETIME_SECONDS": ("-5", "expected a whole number greater than 0"),
    "CDS_JWKS_CACHE_SECONDS": ("5m", "expected a whole number greater than 0"),
    "CDS_JWKS_REFRESH_COOLDOWN_SECONDS": ("-1", "expected a whole number at least 0"),
    "CDS_CORS_ORIGINS": ('["https://a.example"', "expected a comma-separated list (a,b) or a"),
    "CDS_FHIR_TIMEOUT_SECONDS": ("0", "expected a number greater than 0"),
    "CDS_FHIR_MAX_FETCHES": ("ten", "expected a whole number at least 0"),
    "CDS_FHIR_MAX_PAGES": ("0", "expected a whole number at least 1"),
    "CDS_DATABASE_URL": ("mysql://cds:s3cret@db.example/cds", "unsupported database 'mysql'"),
    "CDS_RECORD_DECISIONS": ("yes please", "expected true or false"),
    "CDS_RETENTION_DAYS": ("0", "expected a whole number greater than 0"),
    "CDS_LOG_LEVEL": ("LOUD", "not a log level; expected one of DEBUG, INFO, WARNING"),
    "CDS_LOG_JSON": ("pretty", "expected true or false"),
}


def generic_case(name: str) -> tuple[str, str] | None:
    """A bad value and the expected form for a setting without a case above, from its type (a
    setting added later is covered as soon as it exists, if its type says what is bad)."""
    field = Settings.model_fields[name]
    kind = _base_type(field.annotation)
    if kind is bool or kind is int or kind is float:
        bad = "not-a-value"
    elif isinstance(kind, type) and issubclass(kind, Enum):
        bad = "no-such-member"
    elif _is_list(field):
        bad = "[unclosed"
    else:
        return None
    return bad, f"expected {_accepted_form(field)}"


def all_cases() -> dict[str, tuple[str, str]]:
    cases = dict(CASES)
    for name in Settings.model_fields:
        variable = f"CDS_{name.upper()}"
        if variable not in cases:
            generic = generic_case(name)
            assert generic, f"{variable}: add a bad value to CASES"
            cases[variable] = generic
    return cases


def run(tmp_path: Path, *argv: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *argv], cwd=tmp_path, env=environment(tmp_path, **settings),
                          capture_output=True, text=True, timeout=60)


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], variable: str) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    # serve's own JSON log lines (what it did before the refusal) are not part of the message
    lines = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error in {variable}"), lines[0]
    return lines[0]


def test_every_setting_has_a_case() -> None:
    assert set(all_cases()) == {f"CDS_{name.upper()}" for name in Settings.model_fields}


def bad_setting(variable: str, directory: Path) -> tuple[dict[str, str], str, str]:
    """The environment of one case, the bad value and the words expected."""
    bad, expected = all_cases()[variable]
    bad = bad.format(tmp=directory)
    settings = {variable: bad}
    if variable in ("CDS_TLS_CERT_FILE", "CDS_TLS_KEY_FILE"):  # the other one is fine
        other = "CDS_TLS_KEY_FILE" if variable == "CDS_TLS_CERT_FILE" else "CDS_TLS_CERT_FILE"
        (directory / "ok.pem").write_text("")
        settings[other] = str(directory / "ok.pem")
    return settings, bad, expected


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory,
             ) -> dict[str, subprocess.CompletedProcess[str]]:
    """``cds-service db check`` with each bad setting, four at a time (each is a process start)."""
    def one(variable: str) -> subprocess.CompletedProcess[str]:
        directory = tmp_path_factory.mktemp(variable.lower())
        return run(directory, "db", "check", **bad_setting(variable, directory)[0])

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(all_cases(), pool.map(one, all_cases()), strict=True))


@pytest.mark.parametrize("variable", sorted(all_cases()))
def test_a_bad_value_is_one_line_naming_the_setting_and_the_accepted_form(
        refusals: dict[str, subprocess.CompletedProcess[str]], variable: str) -> None:
    line = assert_one_line_refusal(refusals[variable], variable)
    bad, expected = all_cases()[variable]
    assert expected in line
    if variable.removeprefix("CDS_").lower() in _SECRET:
        assert bad not in line  # its value may hold a password or a token: never repeated
    elif "{tmp}" not in bad:
        assert f"{variable}: {bad!r}" in line


COMMANDS = [
    ["serve"], ["evaluate", str(EXAMPLE_REQUEST)], ["policy", "check"], ["token"],
    ["db", "upgrade"], ["db", "check"], ["records", "decision", "x"], ["records", "feedback"],
    ["records", "stats"], ["records", "purge"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_every_command_refuses_a_bad_setting_the_same_way(tmp_path: Path, argv: list[str]) -> None:
    line = assert_one_line_refusal(run(tmp_path, *argv, CDS_PUBLIC_BASE_URL="notaurl"),
                                   "CDS_PUBLIC_BASE_URL")
    assert "not an absolute URL" in line


@pytest.mark.parametrize("url", ["cds.example.org", "ftp://cds.example.org", "https://",
                                 "https://cds.example.org/?tenant=1", "https://cds.example.org/#x",
                                 "https://user:pw@cds.example.org", "https://cds.example.org:x"])
def test_the_public_base_url_must_be_an_absolute_http_url_without_query_or_fragment(
        monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    from cds_service.errors import ConfigurationError

    monkeypatch.setenv("CDS_PUBLIC_BASE_URL", url)
    with pytest.raises(ConfigurationError) as refused:
        Settings()
    assert refused.value.source == "CDS_PUBLIC_BASE_URL"


@pytest.mark.parametrize(("url", "kept"), [
    ("https://cds.example.org/", "https://cds.example.org"),
    ("http://localhost:8080", "http://localhost:8080"),
    ("https://example.org/payer/cds", "https://example.org/payer/cds"),
])
def test_good_public_base_urls_are_accepted(monkeypatch: pytest.MonkeyPatch, url: str,
                                            kept: str) -> None:
    monkeypatch.setenv("CDS_PUBLIC_BASE_URL", url)
    assert Settings().public_base_url == kept


@pytest.mark.parametrize(("value", "origins"), [
    ("https://a.example", ["https://a.example"]),  # the value that used to crash every command
    ("https://a.example, https://b.example", ["https://a.example", "https://b.example"]),
    ('["https://a.example", "https://b.example"]', ["https://a.example", "https://b.example"]),
    ("", []),
])
def test_list_settings_take_comma_separated_values_or_json(
        monkeypatch: pytest.MonkeyPatch, value: str, origins: list[str]) -> None:
    monkeypatch.setenv("CDS_CORS_ORIGINS", value)
    assert Settings().cors_origins == origins


def test_several_bad_settings_are_each_named_on_a_line_of_their_own(tmp_path: Path) -> None:
    result = run(tmp_path, "db", "check", CDS_LOG_LEVEL="LOUD", CDS_MAX_BODY_BYTES="abc")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    first, *problems = result.stderr.splitlines()
    assert first == "configuration error in CDS_MAX_BODY_BYTES, CDS_LOG_LEVEL:"
    assert [p.split("=")[0] for p in problems] == ["  - CDS_MAX_BODY_BYTES", "  - CDS_LOG_LEVEL"]


# --- the records database, as the commands and start-up meet it -------------------------------

@pytest.mark.parametrize("argv", [["serve"], ["db", "upgrade"]], ids=" ".join)
def test_an_sqlite_folder_that_cannot_be_created_is_one_line(tmp_path: Path,
                                                             argv: list[str]) -> None:
    (tmp_path / "a-file").write_text("")
    url = f"sqlite:///{tmp_path}/a-file/var/records.db"
    line = assert_one_line_refusal(run(tmp_path, *argv, CDS_DATABASE_URL=url,
                                       CDS_TRUST_SANDBOX="true"), "CDS_DATABASE_URL")
    assert "cannot create the SQLite database" in line


@pytest.mark.parametrize("argv", [["serve"], ["db", "upgrade"], ["db", "check"],
                                  ["records", "stats"], ["records", "feedback"]], ids=" ".join)
def test_postgresql_down_is_one_line_without_the_password(tmp_path: Path,
                                                          argv: list[str]) -> None:
    url = f"postgresql+psycopg://cds:s3cret@127.0.0.1:{free_port()}/cds"
    result = run(tmp_path, *argv, CDS_DATABASE_URL=url, CDS_TRUST_SANDBOX="true")
    line = assert_one_line_refusal(result, "CDS_DATABASE_URL")
    assert "cannot open the records database" in line and "Connection refused" in line
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize("name", ["CDS_HTTP_HEADER_TIMEOUT_SECONDS", "CDS_FHIR_TIMEOUT_SECONDS",
                                  "CDS_DATABASE_COMMIT_TIMEOUT_SECONDS"])
@pytest.mark.parametrize("value", ["inf", "1e309", "nan"])
def test_a_timeout_cannot_be_switched_off_with_infinity(
        monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    # "inf" once started the service with slow-header protection off.
    from cds_service.errors import ConfigurationError

    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as refused:
        Settings()
    assert refused.value.source == name


def test_a_retention_beyond_any_date_is_refused_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from cds_service.cli import main

    monkeypatch.setenv("CDS_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    with pytest.raises(SystemExit) as usage:
        main(["records", "purge", "--days", "1000000"])
    assert usage.value.code == 2
    assert "1 to 36500" in capsys.readouterr().err
