"""Reads convcheck's JUnit files with junitparser, a real consumer, and compares its counts of
tests, failures, errors and skips with the JSON report each was rendered from.

usage: check_junit.py REPORT.json REPORT.xml [REPORT.json REPORT.xml ...]
"""

import json
import sys

from junitparser import Error, Failure, JUnitXml, Skipped


def counts(xml_path):
    xml = JUnitXml.fromfile(xml_path)
    tests = failures = errors = skipped = 0
    names = []
    for suite in xml:
        for case in suite:
            tests += 1
            names.append(case.name)
            kinds = {type(r) for r in case.result}
            failures += Failure in kinds
            errors += Error in kinds
            skipped += Skipped in kinds
    return {"tests": tests, "failures": failures, "errors": errors, "skipped": skipped}, names


def expected(report):
    s = report["summary"]
    return {
        "tests": len(report["cases"]),
        "failures": s["failed"],
        "errors": s["errored"],
        "skipped": s["skipped"] + s["expected_failures"],
    }


def main(args):
    if len(args) % 2 or not args:
        print(__doc__, file=sys.stderr)
        return 2
    bad = 0
    for json_path, xml_path in zip(args[::2], args[1::2]):
        with open(json_path, encoding="utf-8") as f:
            report = json.load(f)
        got, names = counts(xml_path)
        want = expected(report)
        ids = [c["id"] for c in report["cases"]]
        if got != want or sorted(names) != sorted(ids):
            print(f"{xml_path}: junitparser read {got}, the report says {want}", file=sys.stderr)
            bad += 1
        else:
            print(f"{xml_path}: {got['tests']} tests, {got['failures']} failures, "
                  f"{got['errors']} errors, {got['skipped']} skipped, as the report says")
    print(f"{len(args) // 2 - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
