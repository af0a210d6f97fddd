#!/usr/bin/env python3
"""Does portcullis.yaml(5) document every setting the daemon accepts, each in its section, and
nothing it does not accept?

Usage: settings_documented.py POLICYCTL PAGE [SOURCES]   (exit 0: yes; 1: no, with what differs)
(SOURCES: the Swift sources POLICYCTL was built from, default this checkout's Sources/.)

The daemon's loader is the source of truth, asked rather than copied: every lower-case identifier
that is a string literal somewhere in Sources/ is written as a field at each level of one probe
config (top level, `limits`, `algorithms`, a key entry), and `policyctl validate --json` (the
daemon's own loader; it lists every problem, where `portcullisd --check` stops at 100) names each
one it does not know ("unknown limits field "x""). Whatever it does not call unknown is a setting. A new field
(it has to be a literal somewhere in Sources/ for the loader to know it) without its paragraph in
the page fails here.

In the page a setting is a tagged paragraph, `.TP` (or `.TQ`) then `.B name`, in its section: SETTINGS (top
level), LIMITS, ALGORITHMS, KEY ENTRIES, CLUSTER.
"""
import json
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Level of the probe config -> (how --check names it, the page's section).
LEVELS = {
    "top": ("top-level", "SETTINGS"),
    "limits": ("limits", "LIMITS"),
    "algorithms": ("algorithms", "ALGORITHMS"),
    "key": ("key entry", "KEY ENTRIES"),
    "cluster": ("cluster", "CLUSTER"),
}
# The containers of the other levels, present in the probe as containers.
CONTAINERS = {"limits", "algorithms", "keys", "cluster"}
# Documented ahead of the code. Tolerated only while the daemon does not know them; once it does
# they are ordinary.
AHEAD = set()


def candidates(sources):
    names = set()
    for path in pathlib.Path(sources).rglob("*.swift"):
        names |= set(re.findall(r'"([a-z][a-z0-9_]*)"', path.read_text(errors="replace")))
    return sorted(names)


def probe(policyctl, names):
    """The names the daemon knows at each level."""
    top = [n for n in names if n not in CONTAINERS]
    nested = "\n".join(f"  {n}: null" for n in names)
    document = "\n".join(f"{n}: null" for n in top) + "\n"
    document += f"limits:\n{nested}\nalgorithms:\n{nested}\nkeys:\n  -\n" + "\n".join(f"    {n}: null" for n in names) + "\n"
    # cluster: in a document of its own (with it, keys: is refused rather than read).
    output = validate(policyctl, document) + "\n" + validate(policyctl, f"cluster:\n{nested}\n")
    known = {}
    for level, (what, _) in LEVELS.items():
        unknown = set(re.findall(rf'unknown {what} field "([a-z0-9_]+)"', output))
        pool = set(names) | (CONTAINERS if level == "top" else set())
        known[level] = pool - unknown
        # Sanity: the probe must have reached this level (most names are unknown at every level).
        if len(unknown) < len(names) // 2:
            sys.exit(f"settings_documented.py: the {what} level was not probed ({len(unknown)} unknown):\n{output[:2000]}")
    return known


def validate(policyctl, document):
    """The problems `policyctl validate --json` finds in `document`, one message per line."""
    with tempfile.TemporaryDirectory() as directory:
        config = pathlib.Path(directory, "probe.yaml")
        config.write_text(document)
        result = subprocess.run([policyctl, "validate", "--config", str(config), "--json"],
                                capture_output=True, text=True, timeout=60)
    try:
        return "\n".join(p["message"] for p in json.loads(result.stdout)["problems"])
    except (ValueError, KeyError, TypeError):
        sys.exit(f"settings_documented.py: policyctl validate --json did not answer with problems:\n"
                 f"{result.stdout[:2000]}{result.stderr[:2000]}")


def documented(page):
    """The tagged paragraphs (.TP, .B name) of each section of the page."""
    sections, current, previous = {}, None, ""
    for line in pathlib.Path(page).read_text().splitlines():
        heading = re.match(r'^\.S[HS] "?([^"]+?)"?\s*$', line)
        if heading:
            current = heading.group(1)
            sections.setdefault(current, set())
        elif previous in (".TP", ".TQ") and current:
            tag = re.match(r"^\.B ([a-z][a-z0-9_]*)\s*$", line)
            if tag:
                sections[current].add(tag.group(1))
        previous = line.strip()
    return sections


def main():
    policyctl, page = sys.argv[1], sys.argv[2]
    sources = sys.argv[3] if len(sys.argv) > 3 else ROOT / "Sources"
    known = probe(policyctl, candidates(sources))
    sections = documented(page)
    problems = []
    for level, (what, section) in LEVELS.items():
        have = sections.get(section, set())
        before = len(problems)
        for name in sorted(known[level] - have):
            problems.append(f"{what} field {name!r} is accepted by portcullisd but has no paragraph in {section}")
        for name in sorted(have - known[level]):
            if (level, name) in AHEAD:
                print(f"note: {what} field {name!r} is documented ahead of the daemon, which does not accept it yet")
                continue
            problems.append(f"{section} documents {name!r}, which portcullisd does not accept as a {what} field")
        if len(problems) == before:
            print(f"{what}: {len(known[level])} fields ({', '.join(sorted(known[level]))}), each documented in {section}")
    for problem in problems:
        print("  " + problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
