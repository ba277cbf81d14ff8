"""A fake of GitHub's and GitLab's issue APIs on 127.0.0.1, for scripts/drift_issue.py."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "tracker-token-5f1e9a"
POLL = 0.01  # seconds between the fake servers' checks for shutdown()
PLATFORMS = ["github", "gitlab"]
# The latest apply, as GitHub's workflow run says it and as GitLab's deployment status does.
GITLAB_STATUS = {
    "success": "success",
    "waiting": "blocked",
    "in_progress": "running",
    "failure": "failed",
}


@dataclass
class Tracker:
    """What the fake holds: the issues, the apply's latest run, and every request it got."""

    platform: str
    issues: list[dict[str, Any]] = field(default_factory=list)
    apply_state: str = "success"  # of the latest apply run or deployment; "" for none
    # The commit of the latest apply, and the one the drift run planned. The fake's history is
    # one line in the order of the shas: "b" * 40 comes after "a" * 40.
    applied_sha: str = "a" * 40
    planned_sha: str = "a" * 40
    changed: list[str] = field(default_factory=list)  # what the compare of the two names
    fail_with: int | None = None
    url: str = ""
    requests: list[tuple[str, str]] = field(default_factory=list)

    def open_issues(self) -> list[dict[str, Any]]:
        return [issue for issue in self.issues if issue["state"] == "open"]

    def body(self, issue: dict[str, Any]) -> str:
        return str(issue["body" if self.platform == "github" else "description"])


class FakeIssueApi(BaseHTTPRequestHandler):
    """The few routes the script uses, in GitHub's shape or GitLab's."""

    tracker: Tracker

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, document: Any) -> None:
        content = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def _handle(self) -> None:
        tracker = self.tracker
        tracker.requests.append((self.command, self.path))
        given = self.headers.get(
            "Authorization" if tracker.platform == "github" else "PRIVATE-TOKEN"
        )
        expected = f"Bearer {TOKEN}" if tracker.platform == "github" else TOKEN
        if given != expected:
            return self._answer(401, {"message": "Bad credentials"})
        if tracker.fail_with is not None:
            return self._answer(tracker.fail_with, {"message": "no"})
        length = int(self.headers.get("Content-Length") or 0)
        sent = json.loads(self.rfile.read(length)) if length else {}
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        if tracker.platform == "github":
            return self._github(parts, query, sent)
        return self._gitlab(parts, query, sent)

    do_GET = do_POST = do_PATCH = do_PUT = _handle

    def _github(self, parts: list[str], query: dict[str, str], sent: Any) -> None:
        tracker = self.tracker
        assert parts[:3] == ["repos", "owner", "repo"], parts
        rest = parts[3:]
        if rest[:2] == ["actions", "workflows"]:
            assert rest[2:] == ["reconciler-apply.yml", "runs"] and query["branch"] == "main"
            runs = [] if not tracker.apply_state else [self._run(tracker)]
            return self._answer(200, {"total_count": len(runs), "workflow_runs": runs})
        if rest[:1] == ["compare"]:
            assert rest[1] == f"{tracker.applied_sha}...{tracker.planned_sha}", rest
            ahead = tracker.planned_sha > tracker.applied_sha
            files = [{"filename": name} for name in tracker.changed] if ahead else []
            return self._answer(200, {"status": "ahead" if ahead else "behind", "files": files})
        if rest == ["issues"] and self.command == "GET":
            assert query["state"] == "open"
            found = [i for i in tracker.open_issues() if query["labels"] in i["labels"]]
            return self._answer(200, found)
        if rest == ["issues"] and self.command == "POST":
            issue = {"number": len(tracker.issues) + 1, "state": "open", **sent}
            tracker.issues.append(issue)
            return self._answer(201, issue)
        assert rest[0] == "issues" and self.command == "PATCH"
        [issue] = [i for i in tracker.issues if str(i["number"]) == rest[1]]
        issue.update(sent)
        return self._answer(200, issue)

    @staticmethod
    def _run(tracker: Tracker) -> dict[str, Any]:
        state = tracker.apply_state
        finished = state in ("success", "failure")
        status, conclusion = ("completed", state) if finished else (state, None)
        return {
            "html_url": "https://ci/runs/9",
            "status": status,
            "conclusion": conclusion,
            "head_sha": tracker.applied_sha,
        }

    def _gitlab(self, parts: list[str], query: dict[str, str], sent: Any) -> None:
        tracker = self.tracker
        assert parts[:4] == ["api", "v4", "projects", "42"], parts
        rest = parts[4:]
        if rest == ["deployments"]:
            assert query["environment"] == "bland" and query["sort"] == "desc"
            state = GITLAB_STATUS.get(tracker.apply_state)
            latest = {"iid": 7, "status": state, "sha": tracker.applied_sha}
            return self._answer(200, [latest] if state else [])
        if rest == ["repository", "compare"]:
            shas = {tracker.applied_sha, tracker.planned_sha}
            assert {query["from"], query["to"]} == shas and len(shas) == 2, query
            ahead = query["to"] > query["from"]
            diffs = [{"old_path": name, "new_path": name} for name in tracker.changed]
            commits = [{"id": query["to"]}] if ahead else []
            return self._answer(200, {"commits": commits, "diffs": diffs if ahead else []})
        if rest == ["issues"] and self.command == "GET":
            assert query["state"] == "opened"
            found = [
                {**i, "state": "opened"}
                for i in tracker.open_issues()
                if query["labels"] in i["labels"].split(",")
            ]
            return self._answer(200, found)
        if rest == ["issues"] and self.command == "POST":
            issue = {"iid": len(tracker.issues) + 1, "state": "open", **sent}
            tracker.issues.append(issue)
            return self._answer(201, issue)
        assert rest[0] == "issues" and self.command == "PUT"
        [issue] = [i for i in tracker.issues if str(i["iid"]) == rest[1]]
        if sent.pop("state_event", None) == "close":
            issue["state"] = "closed"
        issue.update(sent)
        return self._answer(200, issue)


@contextmanager
def serving(state: Tracker) -> Iterator[Tracker]:
    """The fake issue API for `state`, served on 127.0.0.1 until the block ends."""
    handler = type("Handler", (FakeIssueApi,), {"tracker": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # shutdown() waits for the loop's next poll: half a second by default, for every test.
    threading.Thread(target=server.serve_forever, args=(POLL,), daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def tracker_env(tracker: Tracker, **extra: str) -> dict[str, str]:
    """The CI variables the script reads, pointing at the fake."""
    url = tracker.url
    env = {"PATH": os.environ["PATH"], "RECONCILER_ACCOUNT": "production"}
    if tracker.platform == "github":
        env |= {
            "GITHUB_API_URL": url,
            "GITHUB_REPOSITORY": "owner/repo",
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_REF_NAME": "main",
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_RUN_ID": "77",
            "GITHUB_SHA": tracker.planned_sha,
        }
    else:
        env |= {
            "CI_API_V4_URL": f"{url}/api/v4",
            "CI_PROJECT_ID": "42",
            "RECONCILER_GITLAB_TOKEN": TOKEN,
            "CI_JOB_URL": "https://gitlab.example/jobs/77",
            "CI_COMMIT_SHA": tracker.planned_sha,
        }
    return env | extra
