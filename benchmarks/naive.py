"""The naive peer: for each persona in the file, attach all its numbers in one call, in sequence.

What a hand-written script does: no read of the account, no diff, one POST per persona whether
or not anything changed, one at a time. It never detaches, so it does not remove drift that
adds numbers; the benchmarks compare its time, not its result.

    BLAND_API_URL=... BLAND_API_KEY=... python benchmarks/naive.py personas.yaml
"""

from __future__ import annotations

import os
import sys
from urllib.parse import quote

import httpx
import yaml


def main(config_path: str) -> int:
    with open(config_path, encoding="utf-8") as config_file:
        document = yaml.load(config_file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    base_url = os.environ["BLAND_API_URL"].rstrip("/")
    headers = {"authorization": os.environ["BLAND_API_KEY"]}
    calls = failed = 0
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for persona in document["personas"]:
            if not persona.get("numbers"):
                continue  # the API refuses an empty list
            path = f"/v1/personas/{quote(persona['id'], safe='')}/inbound/attach"
            response = client.post(path, json={"inbound_numbers": persona["numbers"]})
            calls += 1
            failed += not response.is_success
    print(f"{calls} attach calls, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
