"""Report drift as one issue: open or update it while the account differs, close it once it matches.

The scheduled drift recipes (examples/ci/github-drift.yml, gitlab-drift.yml) run it after
`reconciler plan --format markdown --detailed-exitcode`:

    python drift_issue.py github|gitlab CHANGES PLAN_FILE

CHANGES is `true` when plan exited 2 (the account differs from the config) and `false` when it
exited 0; PLAN_FILE holds the markdown plan. Drift is a difference while nothing is waiting to be
applied: the latest run of the apply workflow on the default branch (GitHub), or the latest
deployment to the apply job's environment (GitLab), succeeded. While that run is queued, waiting
for approval, running, failed or was rejected, the difference is the apply's business: the issue
is left as it is and nothing is corrected. So is a commit that changed the config and has no apply
of its own (pushed with `[skip ci]`, or its run not started yet): correcting the drift would apply
it without the apply workflow's approval.

Exit status: 0 nothing to correct (the account matches, or an apply is pending), 2 drift is
reported (the issue is open), 1 error (one line on stderr). It talks to the issue API with
urllib only, so it runs on any Python 3.11 without installing anything.

Environment, GitHub: GITHUB_TOKEN (`issues: write`, `actions: read`), GITHUB_API_URL,
GITHUB_REPOSITORY, GITHUB_REF_NAME (the default branch the schedule runs on), GITHUB_SERVER_URL,
GITHUB_RUN_ID, GITHUB_SHA; RECONCILER_APPLY_WORKFLOW, the apply workflow's file name
(reconciler-apply.yml). GitLab: RECONCILER_GITLAB_TOKEN (a project access token with the `api`
scope), CI_API_V4_URL, CI_PROJECT_ID, CI_JOB_URL, CI_COMMIT_SHA; RECONCILER_ENVIRONMENT, the apply
job's environment (bland). Both: RECONCILER_ACCOUNT names the account in the issue's title and
marker (one issue per account), RECONCILER_DRIFT is `report` or `correct` (said in the issue; the
recipe corrects), RECONCILER_FILES the config files and folders, as plan reads them (personas/).
"""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

LABEL = "reconciler-drift"
# A compare answer lists at most this many files; past it, the config counts as changed.
COMPARE_FILES = 300


class Failure(Exception):
    """Ends the run with one line on stderr and exit status 1."""


def _next_page(url: str, headers: Any) -> str | None:
    """The next page's URL: GitHub's `Link: <…>; rel="next"`, or GitLab's `X-Next-Page`."""
    for part in (headers.get("Link") or "").split(","):
        if 'rel="next"' in part and "<" in part:
            return urllib.parse.urljoin(url, part[part.index("<") + 1 : part.index(">")])
    page = headers.get("X-Next-Page")
    if not page:
        return None
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query)) | {"page": page}
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def all_pages(url: str, headers: dict[str, str]) -> list[Any]:
    """Every item of a listing, following its pages."""
    items: list[Any] = []
    next_url: str | None = url
    while next_url is not None:
        if urllib.parse.urlsplit(next_url).netloc != urllib.parse.urlsplit(url).netloc:
            raise Failure("the issue API named a next page on another host: not followed")
        page, next_url = call_paged("GET", next_url, headers)
        items.extend(page)
    return items


def unapplied(applied: str, planned: str, ahead: bool, changed: list[str]) -> str | None:
    """Why the commit planned is not the one applied, or one that only adds what needs no apply.

    `ahead` says the commit applied is an ancestor of the one planned: otherwise the apply is of
    a newer commit (this run was created before it) or of another history, and correcting would
    undo it. `changed` is every path the compare names, old names of moved files included; a
    list cut at the API's limit may hide a config file, so it counts as a change.
    """
    if not ahead:
        return f"the last apply, of {applied[:12]}, is not of an earlier commit than {planned[:12]}"
    # As plan is given them: relative to the checkout (the working folder) or absolute, and
    # maybe a pattern the shell expands for plan.
    given = os.environ.get("RECONCILER_FILES", "").split() or ["personas"]
    configs = [posixpath.normpath(os.path.relpath(name)) for name in given]
    inside = [
        path
        for path in changed
        for config in configs
        if config == "."
        or path == config
        or path.startswith(f"{config}/")
        or fnmatch.fnmatchcase(path, config)
    ]
    if not (inside or len(changed) >= COMPARE_FILES):
        return None
    config = " ".join(configs)
    return f"{planned[:12]} changed {config} after the last apply, of {applied[:12]}, and has none"


def need(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise Failure(f"{name} is not set (see the recipe's comments for what it needs)")
    return value


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: following it would hand the token to whatever host it names."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def call(method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    """One request to the issue API; its JSON answer."""
    return call_paged(method, url, headers, body)[0]


def call_paged(
    method: str, url: str, headers: dict[str, str], body: Any = None
) -> tuple[Any, str | None]:
    """One request to the issue API; its JSON answer and the URL of the next page, if any."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    request.add_header("Content-Type", "application/json")
    path = urllib.parse.urlsplit(url).path
    try:
        with _OPENER.open(request, timeout=60) as response:
            return json.load(response), _next_page(url, response.headers)
    except urllib.error.HTTPError as error:
        raise Failure(f"{method} {path}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise Failure(f"{method} {path}: {error}") from None


class GitHub:
    def __init__(self) -> None:
        api = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
        self.repo = f"{api}/repos/{need('GITHUB_REPOSITORY')}"
        self.headers = {
            "Authorization": f"Bearer {need('GITHUB_TOKEN')}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        self.run_url = f"{server}/{need('GITHUB_REPOSITORY')}/actions/runs/{need('GITHUB_RUN_ID')}"

    def apply_pending(self) -> str | None:
        workflow = os.environ.get("RECONCILER_APPLY_WORKFLOW", "reconciler-apply.yml")
        query = urllib.parse.urlencode({"branch": need("GITHUB_REF_NAME"), "per_page": 1})
        url = f"{self.repo}/actions/workflows/{urllib.parse.quote(workflow)}/runs?{query}"
        runs = call("GET", url, self.headers)["workflow_runs"]
        if not runs:
            return None
        if (runs[0]["status"], runs[0]["conclusion"]) != ("completed", "success"):
            return f"{runs[0]['html_url']} is {runs[0]['conclusion'] or runs[0]['status']}"
        applied, planned = runs[0]["head_sha"], need("GITHUB_SHA")
        if applied == planned:
            return None
        pair = f"{urllib.parse.quote(applied)}...{urllib.parse.quote(planned)}"
        compared = call("GET", f"{self.repo}/compare/{pair}", self.headers)
        paths = [
            str(file[name])
            for file in compared["files"]
            for name in ("filename", "previous_filename")
            if name in file
        ]
        return unapplied(applied, planned, compared["status"] == "ahead", paths)

    def open_issues(self) -> list[tuple[str, str]]:
        query = urllib.parse.urlencode({"state": "open", "labels": LABEL, "per_page": 100})
        found = all_pages(f"{self.repo}/issues?{query}", self.headers)
        # The issues API lists pull requests too.
        return [(str(i["number"]), i["body"] or "") for i in found if "pull_request" not in i]

    def open(self, title: str, body: str) -> None:
        issue = {"title": title, "body": body, "labels": [LABEL]}
        call("POST", f"{self.repo}/issues", self.headers, issue)

    def update(self, number: str, body: str) -> None:
        call("PATCH", f"{self.repo}/issues/{number}", self.headers, {"body": body})

    def close(self, number: str, body: str) -> None:
        closed = {"body": body, "state": "closed", "state_reason": "completed"}
        call("PATCH", f"{self.repo}/issues/{number}", self.headers, closed)


class GitLab:
    def __init__(self) -> None:
        self.project = f"{need('CI_API_V4_URL').rstrip('/')}/projects/{need('CI_PROJECT_ID')}"
        self.headers = {"PRIVATE-TOKEN": need("RECONCILER_GITLAB_TOKEN")}
        self.run_url = need("CI_JOB_URL")

    def apply_pending(self) -> str | None:
        environment = os.environ.get("RECONCILER_ENVIRONMENT", "bland")
        query = urllib.parse.urlencode(
            {"environment": environment, "order_by": "id", "sort": "desc", "per_page": 1}
        )
        deployments = call("GET", f"{self.project}/deployments?{query}", self.headers)
        if not deployments:
            return None
        latest = deployments[0]
        if latest["status"] != "success":
            return f"deployment {latest['iid']} to {environment} is {latest['status']}"
        applied, planned = latest["sha"], need("CI_COMMIT_SHA")
        if applied == planned:
            return None
        # The commits the apply has that the planned one lacks: none when it is an ancestor.
        back = urllib.parse.urlencode({"from": planned, "to": applied})
        newer = call("GET", f"{self.project}/repository/compare?{back}", self.headers)["commits"]
        query = urllib.parse.urlencode({"from": applied, "to": planned})
        diffs = call("GET", f"{self.project}/repository/compare?{query}", self.headers)["diffs"]
        paths = [str(diff[side]) for diff in diffs for side in ("old_path", "new_path")]
        return unapplied(applied, planned, not newer, paths)

    def open_issues(self) -> list[tuple[str, str]]:
        query = urllib.parse.urlencode({"state": "opened", "labels": LABEL, "per_page": 100})
        found = all_pages(f"{self.project}/issues?{query}", self.headers)
        return [(str(issue["iid"]), issue["description"] or "") for issue in found]

    def open(self, title: str, body: str) -> None:
        issue = {"title": title, "description": body, "labels": LABEL}
        call("POST", f"{self.project}/issues", self.headers, issue)

    def update(self, number: str, body: str) -> None:
        call("PUT", f"{self.project}/issues/{number}", self.headers, {"description": body})

    def close(self, number: str, body: str) -> None:
        closed = {"description": body, "state_event": "close"}
        call("PUT", f"{self.project}/issues/{number}", self.headers, closed)


def report(tracker: GitHub | GitLab, changes: bool, plan: str) -> int:
    """Open, update or close the account's one drift issue; the exit status."""
    account = os.environ.get("RECONCILER_ACCOUNT", "") or "the account"
    marker = f"<!-- reconciler-drift: {account} -->"
    # The marker opens the body this script writes: text further in (a label shown in the plan,
    # say) never makes an issue another account's.
    mine = [number for number, body in tracker.open_issues() if body.startswith(marker)]
    footer = f"\n\n<sub>[Run log]({tracker.run_url}).</sub>\n"
    if not changes:
        for number in mine:
            tracker.close(number, f"{marker}\n{account} matches the config again.{footer}")
            print(f"Closed drift issue #{number}: {account} matches the config.")
        if not mine:
            print(f"{account} matches the config: no drift.")
        return 0
    pending = tracker.apply_pending()
    if pending is not None:
        print(f"Not reported as drift: an apply is waiting or did not succeed ({pending}).")
        return 0
    correcting = os.environ.get("RECONCILER_DRIFT", "report") == "correct"
    then = (
        "This run applies the plan (RECONCILER_DRIFT=correct); the next scheduled run closes "
        "this issue once the account matches."
        if correcting
        else "Nothing is corrected (RECONCILER_DRIFT=report): change the config to keep the "
        "dashboard's edit, or run the apply workflow to put the config back."
    )
    body = (
        f"{marker}\n{account} differs from the config on the default branch, although its "
        f"last apply succeeded: something was changed outside the config.\n\n{then}\n\n"
        f"{plan.strip()}{footer}"
    )
    if mine:
        tracker.update(mine[0], body)
        print(f"Updated drift issue #{mine[0]}.")
    else:
        tracker.open(f"reconciler: {account} differs from the config", body)
        print("Opened a drift issue.")
    return 2


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("github", "gitlab") or argv[1] not in ("true", "false"):
        raise Failure("usage: drift_issue.py github|gitlab true|false PLAN_FILE")
    try:
        with open(argv[2], encoding="utf-8") as stream:
            plan = stream.read()
    except OSError as error:
        raise Failure(f"{argv[2]}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise Failure(f"{argv[2]}: not UTF-8 text (the plan as reconciler wrote it)") from None
    tracker = GitHub() if argv[0] == "github" else GitLab()
    return report(tracker, argv[1] == "true", plan)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Failure as failure:
        sys.exit(f"drift_issue: {failure}")
