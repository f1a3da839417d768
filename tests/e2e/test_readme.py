"""Every README example runs as written, in order, on a platform started as `make run` starts it.

The examples are the README's fenced ```bash blocks. They run in one bash process (so a variable
one example sets, such as $POS_KEY, is there for the next), from a directory where `var/` is this
platform's VAR_DIR and `.venv` the project's; only the gateway's address is this platform's. Each
curl call is recorded with its HTTP status: a call answers 2xx unless the comment after it says
`# -> <status>`. A failure names the example (its number and README line), the call and its answer.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.platform_fixture import ROOT, running_platform

pytestmark = pytest.mark.e2e
README = ROOT / "README.md"
README_BASE = "http://127.0.0.1:8080"
_EXPECTED = re.compile(r"^\s*#\s*->\s*(\d{3})\b")

# records every curl call (status, arguments, answer) for the test, and passes the answer on
PRELUDE = r"""
set -euo pipefail
curl() {
  local out
  if ! out=$(command curl -w '\n%{http_code}' "$@"); then
    printf 'C\t000\t%s\tcurl itself failed\n' "$(printf '%s' "$*" | tr '\t\n' '  ')" >> "$README_CALLS"
    return 1
  fi
  local status=${out##*$'\n'}
  out=${out%$'\n'*}
  printf 'C\t%s\t%s\t%s\n' "$status" "$(printf '%s' "$*" | tr '\t\n' '  ' | cut -c1-300)" \
    "$(printf '%s' "$out" | tr '\t\n' '  ' | cut -c1-800)" >> "$README_CALLS"
  printf '%s\n' "$out"
}
"""


@dataclass
class Example:
    number: int
    line: int
    text: str
    expected: list[int | None] = field(default_factory=list)  # per curl call: a status, or None for 2xx


def examples(readme: str) -> list[Example]:
    found: list[Example] = []
    lines = readme.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```bash":
            start, body = i + 1, []
            i += 1
            while lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            example = Example(len(found) + 1, start + 1, "\n".join(body))
            for line in body:
                expected = _EXPECTED.match(line)
                if expected and example.expected and example.expected[-1] is None:
                    example.expected[-1] = int(expected.group(1))
                elif not line.lstrip().startswith("#") and re.search(r"(^|[\s|(])curl\s", line):
                    example.expected.append(None)
            found.append(example)
        i += 1
    return found


def test_the_readme_has_runnable_examples():
    found = examples(README.read_text())
    assert len(found) >= 5 and all(e.text.strip() for e in found)
    assert not [e.number for e in found if re.search(r"<[a-z_]+>|…", _code_only(e.text))], \
        "an example holds a placeholder (<id>, …): define it in the README instead"


def _code_only(text: str) -> str:
    return "\n".join(line.split(" #")[0] for line in text.splitlines() if not line.lstrip().startswith("#"))


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    var = tmp_path_factory.mktemp("readme-var")
    with running_platform(var, "readme") as running:
        yield running


def _script(found: list[Example], base: str) -> str:
    parts = [PRELUDE]
    for example in found:
        parts.append(f"printf 'E\\t{example.number}\\n' >> \"$README_CALLS\"")
        parts.append(example.text.replace(README_BASE, base))
    return "\n".join(parts) + "\n"


def _calls(path: Path) -> dict[int, list[tuple[int, str, str]]]:
    calls: dict[int, list[tuple[int, str, str]]] = {}
    current = 0
    for line in path.read_text().splitlines() if path.exists() else []:
        kind, *rest = line.split("\t")
        if kind == "E":
            current = int(rest[0])
            calls[current] = []
        elif kind == "C":
            status, args, answer = (rest + ["", "", ""])[:3]
            calls.setdefault(current, []).append((int(status), args, answer))
    return calls


def test_every_readme_example_runs_as_written_in_order(platform, tmp_path):
    found = examples(README.read_text())
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    (workdir / "var").symlink_to(platform["var"])
    (workdir / ".venv").symlink_to(ROOT / ".venv")
    calls_file = tmp_path / "calls.tsv"
    env = {**platform["env"], "README_CALLS": str(calls_file),
           "PYTHONPATH": str(ROOT) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")}
    ran = subprocess.run(["bash", "-c", _script(found, platform["base"])], cwd=workdir, env=env,
                         capture_output=True, text=True, timeout=600)
    calls = _calls(calls_file)
    problems = []
    for example in found:
        if example.number not in calls:
            break  # the script stopped before it
        made = calls[example.number]
        for index, (status, args, answer) in enumerate(made):
            wanted = example.expected[index] if index < len(example.expected) else None
            if (wanted is None and not 200 <= status < 300) or (wanted is not None and status != wanted):
                problems.append(f"README example {example.number} (README.md line {example.line}), curl call "
                                f"{index + 1}: answered {status}, expected {wanted or '2xx'}\n  curl {args}\n"
                                f"  -> {answer}")
        if len(made) != len(example.expected) and ran.returncode == 0:
            problems.append(f"README example {example.number} (README.md line {example.line}) made {len(made)} "
                            f"curl calls where its text has {len(example.expected)}")
    if ran.returncode != 0:
        last = max(calls) if calls else 1
        example = found[last - 1]
        problems.append(f"README example {example.number} (README.md line {example.line}) stopped the run "
                        f"(exit {ran.returncode}):\n{ran.stderr.strip()[-1500:]}\n--- the example:\n{example.text}")
    assert not problems, "\n\n".join(problems)
