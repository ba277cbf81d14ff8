"""Settings: the global options and their environment variables, the inputs a run reads, and
the signal handlers of a run (tested in-process with signals the test raises itself)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import pytest

from reconciler.api.bodies import DEFAULT_MAX_RESPONSE_BYTES as DEFAULT_MAX
from reconciler.api.transport import DEFAULT_TIMEOUT
from reconciler.errors import InputError
from reconciler.plan import Plan
from reconciler.planfile import SavedPlan
from reconciler.secrets import REDACTOR
from reconciler.settings import GracefulStop, Settings, end_now, handled_by, setup_logging
from tests.conftest import TEST_KEY
from tests.unit.test_core import ATTACH, saved_plan_file, wanting


@pytest.mark.parametrize(
    ("options", "environ", "timeout", "max_bytes"),
    [
        ({}, {}, DEFAULT_TIMEOUT, DEFAULT_MAX),
        ({}, {"BLAND_TIMEOUT": "2.5", "BLAND_MAX_RESPONSE_SIZE": "2M"}, 2.5, 2 * 1024**2),
        (
            {},
            {"BLAND_TIMEOUT": "", "BLAND_MAX_RESPONSE_SIZE": ""},
            DEFAULT_TIMEOUT,
            DEFAULT_MAX,
        ),
        (
            {"timeout": 7.0, "max_response_size": "3M"},
            {"BLAND_TIMEOUT": "nan", "BLAND_MAX_RESPONSE_SIZE": "big"},
            7.0,
            3 * 1024**2,
        ),
    ],
)
def test_an_option_given_wins_over_its_variable_which_wins_over_the_default(
    options: dict[str, object],
    environ: dict[str, str],
    timeout: float,
    max_bytes: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("BLAND_TIMEOUT", "BLAND_MAX_RESPONSE_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    given = {"timeout": None, "max_response_size": None, **options}
    settings = Settings().given(**given, max_rps=3.0)
    assert (settings.timeout, settings.max_response_size, settings.max_rps) == (
        timeout,
        max_bytes,
        3.0,
    )


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("soon", "BLAND_TIMEOUT='soon' is not a number of seconds"),
        ("0", "BLAND_TIMEOUT='0' is out of range: a number of seconds from 0.001 to 86400"),
    ],
)
def test_a_timeout_variable_that_is_no_timeout_is_named(
    value: str, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLAND_TIMEOUT", value)
    with pytest.raises(InputError) as raised:
        Settings().given(timeout=None, max_response_size=None)
    assert str(raised.value) == said


class Keyed(Settings):
    """Settings whose API key signs plan files as test_core's KEY."""

    key = "sk-test"


def test_saved_plans_are_found_by_content_not_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "plan.json"
    config.write_text("version: 1\npersonas: []\n")
    saved = saved_plan_file(tmp_path, Plan(changes=(ATTACH,)))
    monkeypatch.setattr("reconciler.settings.load_config", lambda names, max_bytes: wanting())
    settings = Keyed()

    def read(files: Sequence[str], plans: bool = True) -> object:
        return settings.read_inputs(files, plans=plans)

    assert read([str(config)]) == wanting()
    assert isinstance(read([str(saved)]), SavedPlan)
    with pytest.raises(InputError, match="a plan file is applied alone"):
        read([str(saved), str(config)])
    with pytest.raises(InputError, match="--target goes with config files"):
        settings.read_inputs([str(saved)], ["Support"], plans=True)
    assert read([str(config)], plans=False) == wanting()
    with pytest.raises(InputError, match="this is a saved plan, not a config file"):
        read([str(config), str(saved)], plans=False)


def test_log_lines_hide_the_key_in_their_arguments_and_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    loggers = [logging.getLogger(name) for name in ("", "httpx", "httpcore")]
    handlers, levels = loggers[0].handlers[:], [logger.level for logger in loggers]
    REDACTOR.add(TEST_KEY)
    setup_logging(0)  # a handler on the stderr capsys holds
    logger = logging.getLogger("tests.redaction")
    try:
        logger.warning("sending %s", TEST_KEY)
        try:
            raise ValueError(f"bad header {TEST_KEY}")
        except ValueError:
            logger.exception("request failed")
    finally:
        loggers[0].handlers[:] = handlers
        for each, level in zip(loggers, levels, strict=True):
            each.setLevel(level)
    logged = capsys.readouterr().err
    assert "W tests.redaction: sending ***\n" in logged
    assert "ValueError: bad header ***" in logged
    assert TEST_KEY[:12] not in logged


class Stopped(Exception):
    """What the test's `stop` raises instead of ending the process."""


def stop(signum: int) -> NoReturn:
    raise Stopped(signum)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_handled_by_hands_the_signal_over_then_puts_the_handlers_back(signum: int) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(Stopped) as stopped, handled_by(stop):
        signal.raise_signal(signum)
    assert stopped.value.args == (signum,)
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_second_signal_in_a_graceful_stop_goes_to_on_second() -> None:
    asked: list[int] = []
    graceful = GracefulStop(asked.append, stop)
    with handled_by(stop), handled_by(graceful):
        signal.raise_signal(signal.SIGTERM)
        assert graceful.event.is_set() and asked == [signal.SIGTERM]
        with pytest.raises(Stopped) as stopped:
            signal.raise_signal(signal.SIGINT)
    assert stopped.value.args == (signal.SIGINT,)
    assert asked == [signal.SIGTERM]
    assert graceful.signal_name == "SIGTERM"


def test_a_first_signal_after_a_stop_without_one_is_still_a_first() -> None:
    # stdout closed mid-apply sets the event (send nothing more); a SIGINT after it still only
    # asks the writes on the wire to finish.
    asked: list[int] = []
    graceful = GracefulStop(asked.append, stop)
    graceful.event.set()
    with handled_by(stop), handled_by(graceful):
        signal.raise_signal(signal.SIGINT)
    assert asked == [signal.SIGINT]
    assert graceful.signal_name == "SIGINT"


def test_end_now_with_stderr_closed_still_ends_with_the_signals_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Started with `2>&-`, Python's sys.stderr is None: there is no one to tell, but the run
    # still ends with 128 + the signal.
    monkeypatch.setattr("sys.stderr", None)
    monkeypatch.setattr("os._exit", stop)
    with pytest.raises(Stopped) as stopped:
        end_now(signal.SIGTERM)
    assert stopped.value.args == (128 + signal.SIGTERM,)
