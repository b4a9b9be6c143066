"""The tested console sessions of docs/: how they are read, run and compared.

A session is a ```console block right after a ``<!-- session -->`` comment. Lines starting with
``$ `` are commands (continued over lines by a trailing ``\\``, an open quote or a here-document);
the lines up to the next command are what it printed. The sessions of one page run in order in one
bash, in an empty directory, so variables and files carry on from block to block.

A documented answer matches the real one line by line, where:

- ``…`` stands for anything within a line; a line that is only ``…`` for any number of lines;
- ids (UUIDs, and abridged ones like ``8d1e3d55-…``), times, tokens, sha256 hashes, prediction
  ids and the server's address match any value of their kind;
- integers of 7 or more digits are seeds and match any such integer; other integers below 1000
  must be equal; every other number must be within a factor of 3 of the real one (so a 0.49 where
  the server says 0.002 fails), and 0 only matches 0.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

MARK = "<!-- session -->"
ELLIPSIS = "…"
END = "@@session-command-end@@"

NORMALISE = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<id>"),
    (re.compile(r"\b[0-9a-f]{8}-…"), "<id>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"), "<time>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<sha256>"),
    (re.compile(r"\b[0-9a-f]{40}\b"), "<token>"),
    (re.compile(r"\blocal-[0-9a-f]{32}\b"), "<prediction>"),
    (re.compile(r"https?://(127\.0\.0\.1|localhost):\d+"), "<server>"),
]
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass
class Command:
    text: str
    expected: list[str] = field(default_factory=list)


def sessions(page: Path) -> list[Command]:
    """Every command of the page's marked console blocks, in order, with its documented answer."""
    commands: list[Command] = []
    lines = page.read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip() == MARK:
            assert lines[index + 1].startswith("```console"), f"{page}:{index + 2}: not ```console"
            block = []
            for body in lines[index + 2 :]:
                if body.startswith("```"):
                    break
                block.append(body)
            commands.extend(_commands(block))
    return commands


def _commands(block: list[str]) -> list[Command]:
    commands: list[Command] = []
    pending: list[str] = []
    for line in block:
        if pending:
            pending.append(line)
        elif line.startswith("$ "):
            pending = [line[2:]]
        else:
            commands[-1].expected.append(line)
            continue
        if _complete("\n".join(pending)):
            commands.append(Command("\n".join(pending)))
            pending = []
    assert not pending, f"unfinished command: {pending}"
    return commands


def _complete(text: str) -> bool:
    heredoc = re.search(r"<<-?'?(\w+)'?", text)
    if heredoc and not re.search(rf"\n{heredoc.group(1)}$", text):
        return False
    if text.endswith("\\"):
        return False
    try:
        shlex.split(text.split("<<")[0] if heredoc else text, comments=True)
    except ValueError:  # an open quote: the command goes on
        return False
    return True


def run(commands: list[Command], *, cwd: Path, env: dict[str, str], timeout: float) -> list[str]:
    """Run the commands in one bash; return what each printed."""
    script = "".join(f"{c.text}\nprintf '\\n{END}\\n'\n" for c in commands)
    result = subprocess.run(
        ["bash", "-o", "pipefail"],
        input=script,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    outputs = result.stdout.split(f"\n{END}\n")
    assert len(outputs) == len(commands) + 1, f"the session stopped early:\n{result.stderr[-3000:]}"
    return [o.replace("\r", "") for o in outputs[:-1]]


def mismatch(expected: list[str], actual: str) -> str | None:
    """Why the documented answer does not match the printed one (None when it does)."""
    real = actual.splitlines()
    while real and not real[-1].strip():
        real.pop()
    while real and not real[0].strip():
        real.pop(0)
    documented = list(expected)
    while documented and not documented[-1].strip():
        documented.pop()
    if _lines_match(documented, real):
        return None
    return "documented:\n" + "\n".join(documented) + "\nprinted:\n" + "\n".join(real)


def _lines_match(documented: list[str], real: list[str]) -> bool:
    if not documented:
        return not real
    if documented[0].strip() == ELLIPSIS:
        return any(_lines_match(documented[1:], real[skip:]) for skip in range(len(real) + 1))
    return (
        bool(real)
        and line_matches(documented[0], real[0])
        and _lines_match(documented[1:], real[1:])
    )


def normalise(text: str) -> str:
    for pattern, placeholder in NORMALISE:
        text = pattern.sub(placeholder, text)
    return text


def _canonical_json(line: str) -> str | None:
    """A JSON line with its keys sorted and 2.0 written 2, or None when it is not JSON: the
    database decides key order and number spelling (PostgreSQL's jsonb sorts keys and keeps 2
    for a float that SQLite's JSON text keeps as 2.0), the documentation should not."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict | list):
        return None

    def plain(item):
        if isinstance(item, float) and item.is_integer():
            return int(item)
        if isinstance(item, dict):
            return {key: plain(val) for key, val in item.items()}
        if isinstance(item, list):
            return [plain(val) for val in item]
        return item

    return json.dumps(plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def line_matches(documented: str, real: str) -> bool:
    canonical = (_canonical_json(documented.strip()), _canonical_json(real.strip()))
    if None not in canonical:
        documented, real = canonical
    documented, real = normalise(documented).rstrip(), normalise(real).rstrip()
    pattern, numbers = [], []
    for piece in re.split(f"({ELLIPSIS}|{NUMBER.pattern})", documented):
        if piece == ELLIPSIS:
            pattern.append(".*?")
        elif NUMBER.fullmatch(piece or "x"):
            pattern.append(f"({NUMBER.pattern})")
            numbers.append(piece)
        else:
            pattern.append(re.escape(piece))
    found = re.fullmatch("".join(pattern), real)
    return found is not None and all(
        number_matches(d, r) for d, r in zip(numbers, found.groups(), strict=True)
    )


def number_matches(documented: str, real: str) -> bool:
    is_int = re.fullmatch(r"-?\d+", documented) and re.fullmatch(r"-?\d+", real)
    if is_int and len(documented.lstrip("-")) >= 7:
        return len(real.lstrip("-")) >= 7  # a seed
    d, r = float(documented), float(real)
    if is_int and abs(d) < 1000:
        return d == r
    if d == 0 or r == 0:
        return d == r
    return (d > 0) == (r > 0) and 1 / 3 <= r / d <= 3
