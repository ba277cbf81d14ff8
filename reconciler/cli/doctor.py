"""`reconciler doctor`: read-only checks that the account behaves as this tool assumes."""

from __future__ import annotations

import json
import os

import click

from reconciler.cli.app import Settings, pass_settings
from reconciler.cli.output import echo
from reconciler.doctor import Report, WireLog, not_checked, run_doctor
from reconciler.doctor.checks import plural
from reconciler.errors import AlreadyReported, InputError
from reconciler.secrets import key_file_from
from reconciler.text import printable


@click.command("doctor")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="How to print the checks.",
)
@pass_settings
def doctor_command(settings: Settings, output_format: str) -> None:
    """Check, with GET requests only, that the account behaves as this tool assumes.

    Checks the key, the paging of the persona listing, GET /v1/inbound, the response shapes,
    whether the two sources of ownership agree, and how v2 agents and their numbers can be read.
    Exits 1 when any check fails.
    """
    base_url = settings.base_url()
    source = key_source(settings.api_key_file)
    wire = WireLog()
    try:
        client = settings.client(event_hooks=wire.event_hooks)
    except InputError as error:
        report = not_checked(str(error), "no usable API key")
    else:
        with client:
            report = run_doctor(client, wire, source)
    if output_format == "json":
        echo(json.dumps(report.to_json(), indent=2))
    else:
        echo(render_report(report, base_url))
    if report.failed:
        raise AlreadyReported()


def key_source(option: str | None) -> str:
    """Where the key comes from, in words: never the key itself."""
    key_file = key_file_from(option, os.environ)
    if key_file is None:
        return "BLAND_API_KEY"
    named_by = "--api-key-file" if option else "BLAND_API_KEY_FILE"
    return f"the file {printable(key_file)} ({named_by})"


def render_report(report: Report, base_url: str) -> str:
    """The checks one per line, then what the probes measured, then the verdict."""
    width = max(len(check.name) for check in report.checks)
    lines = [f"reconciler doctor: {printable(base_url)} (GET requests only)"]
    lines += [f"{c.status:<4}  {c.name:<{width}}  {c.detail}" for c in report.checks]
    latency = report.latency_ms()
    requests = len(report.wire.started)
    measured = plural(requests, "request")
    if latency is not None:
        measured += f", time to answer: median {latency[0]:.0f} ms, slowest {latency[1]:.0f} ms"
    measured += f"; {report.persona_pages} persona pages read"
    headers = sorted(report.wire.rate_limit_headers.items())
    limits = ", ".join(f"{name}: {printable(value)}" for name, value in headers)
    lines.append(measured)
    lines.append(f"rate-limit headers: {limits or 'none seen'}")
    failed, warned = report.count("fail"), report.count("warn")
    if report.stopped:
        verdict = f"{report.stopped}: nothing else was checked"
    elif failed:
        verdict = f"{failed} failed, {warned} warned: this account does not behave as assumed"
    elif warned:
        verdict = f"no check failed, {warned} warned: the tool copes, see the warnings"
    else:
        verdict = "every check passed"
    lines.append(verdict + " (see docs/doctor.md)")
    return "\n".join(lines)
