"""Runs the `run:` steps of a composite action (action.yml) locally, as the runner would.

Usage: run_steps.py ACTION_YML INPUTS_JSON OUTPUTS_FILE

Each step's `${{ … }}` expressions are replaced by their values (inputs, steps.ID.outputs,
runner, github.action_path, github.action_ref), its `env:` is set, and its script runs with
`bash -eo pipefail` (GitHub's `shell: bash`) and a fresh GITHUB_OUTPUT file. A `uses:` step is
reported and skipped. A step runs when its `if:` holds; only comparisons of a step output with
a literal are understood, and any other expression stops the run, so the action cannot grow a
construct this runner silently misreads. The action's outputs are written to OUTPUTS_FILE as
key=value lines. Exits with the status of the first failing step, 0 otherwise.
"""

import json
import os
import re
import subprocess
import sys

import yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
COMPARISON = re.compile(r"^steps\.([\w-]+)\.outputs\.([\w-]+)\s*(==|!=)\s*'([^']*)'$")


def value(expr, ctx):
    """The value of one expression; `a || b` takes the first non-empty side."""
    if "||" in expr:
        for side in expr.split("||"):
            v = value(side.strip(), ctx)
            if v:
                return v
        return ""
    if expr.startswith("'") and expr.endswith("'"):
        return expr[1:-1]
    parts = expr.split(".")
    if parts[0] == "inputs" and len(parts) == 2:
        return ctx["inputs"][parts[1]]
    if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
        return ctx["steps"].get(parts[1], {}).get(parts[3], "")
    if parts[0] in ("runner", "github") and len(parts) == 2:
        return ctx[parts[0]][parts[1]]
    sys.exit(f"run_steps: unsupported expression `{expr}`")


def substitute(text, ctx):
    return EXPR.sub(lambda m: value(m.group(1), ctx), str(text))


def condition(expr, ctx):
    expr = EXPR.sub(lambda m: m.group(1), expr.strip())
    m = COMPARISON.match(expr)
    if not m:
        sys.exit(f"run_steps: unsupported condition `{expr}`")
    actual = ctx["steps"].get(m.group(1), {}).get(m.group(2), "")
    return (actual == m.group(4)) == (m.group(3) == "==")


def read_outputs(path):
    """key=value lines and key<<DELIMITER blocks, as the runner reads GITHUB_OUTPUT."""
    out, lines = {}, open(path, encoding="utf-8").read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            i += 1
            block = []
            while lines[i] != delim:
                block.append(lines[i])
                i += 1
            out[key] = "\n".join(block)
        elif "=" in line:
            key, val = line.split("=", 1)
            out[key] = val
        i += 1
    return out


def main():
    action_yml, inputs_json, outputs_file = sys.argv[1:4]
    action = yaml.safe_load(open(action_yml, encoding="utf-8"))
    given = json.loads(inputs_json)
    declared = action.get("inputs", {})
    unknown = set(given) - set(declared)
    if unknown:
        sys.exit(f"run_steps: action.yml has no input {sorted(unknown)}")
    inputs = {}
    for name, spec in declared.items():
        if name in given:
            inputs[name] = given[name]
        elif spec.get("required"):
            sys.exit(f"run_steps: input `{name}` is required")
        else:
            inputs[name] = str(spec.get("default", ""))
    ctx = {
        "inputs": inputs,
        "steps": {},
        "runner": {
            "os": os.environ["RUNNER_OS"],
            "arch": os.environ["RUNNER_ARCH"],
            "temp": os.environ["RUNNER_TEMP"],
        },
        "github": {
            "action_path": os.environ["GITHUB_ACTION_PATH"],
            "action_ref": os.environ.get("GITHUB_ACTION_REF", ""),
        },
    }
    status = 0
    for n, step in enumerate(action["runs"]["steps"], 1):
        name = step.get("name", f"step {n}")
        if "if" in step and not condition(step["if"], ctx):
            print(f"run_steps: skipped (if: {step['if']}): {name}", flush=True)
            continue
        if "uses" in step:
            print(f"run_steps: not run here (uses: {step['uses']}): {name}", flush=True)
            continue
        if step.get("shell") != "bash":
            sys.exit(f"run_steps: step `{name}` must say shell: bash")
        print(f"run_steps: running: {name}", flush=True)
        output = os.path.join(os.environ["RUNNER_TEMP"], f"output-{n}")
        open(output, "w").close()
        env = dict(os.environ, GITHUB_OUTPUT=output)
        for key, val in (step.get("env") or {}).items():
            env[key] = substitute(val, ctx)
        script = substitute(step["run"], ctx)
        code = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], env=env).returncode
        if "id" in step:
            ctx["steps"][step["id"]] = read_outputs(output)
        if code != 0:
            print(f"run_steps: step `{name}` exited {code}", flush=True)
            status = code
            break
    with open(outputs_file, "w", encoding="utf-8") as f:
        for key, spec in (action.get("outputs") or {}).items():
            f.write(f"{key}={substitute(spec['value'], ctx)}\n")
    sys.exit(status)


if __name__ == "__main__":
    main()
