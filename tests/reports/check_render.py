"""Checks what headless Chromium made of the HTML report: the screenshot is a real PNG of a
phone-wide page with something drawn on it, and Chromium's network log shows no request the
page started. Requests the browser makes for itself (update checks and the like, whose
initiator is "not an origin") are not the page's; every host is unresolvable anyway.
A control page that does load an image must be caught by the same check.

usage: check_render.py SCREENSHOT.png NETLOG.json CONTROL-NETLOG.json
"""

import json
import struct
import sys


def png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path} is not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height, len(data)


def load(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read().rstrip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # Chromium may stop before closing the events array.
        return json.loads(text.rstrip(",") + "]}")


def page_requests(netlog_path):
    """URLs of requests started by a page rather than by the browser itself."""
    log = load(netlog_path)
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return sorted(
        e["params"]["url"]
        for e in log.get("events", [])
        if e.get("type") == start
        and "url" in e.get("params", {})
        and e["params"].get("initiator") != "not an origin"
    )


def main(args):
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    shot, netlog, control = args
    problems = []
    width, height, size = png(shot)
    if width != 390 or height < 600:
        problems.append(f"the screenshot is {width}x{height}, expected 390 wide")
    # A blank page compresses to almost nothing; a rendered report does not.
    if size < 20_000:
        problems.append(f"the screenshot has only {size} bytes: nothing was drawn")
    made = page_requests(netlog)
    if made:
        problems.append(f"the report page made requests: {made}")
    if not any("convcheck-control.invalid" in u for u in page_requests(control)):
        problems.append("the control page's image request was not seen: the check is blind")
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"{shot}: {width}x{height}, {size} bytes; the page made no request")
    print(f"{4 - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
