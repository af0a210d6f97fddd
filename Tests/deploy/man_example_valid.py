#!/usr/bin/env python3
"""Are the examples of portcullis.yaml(5) a configuration the daemon accepts?

Usage: man_example_valid.py POLICYCTL PAGE   (exit 0: `policyctl validate` accepts them)

The page's EXAMPLES hold a main file and a keys_dir file (the two no-fill blocks, in that order).
They are written to a temporary directory as they are, with only what names this machine changed:
the elided public keys ("AAAA...") become fresh ones, /etc/portcullis, /var/log/portcullis and
/run/portcullis become the temporary directory, and `user:` is dropped (no portcullis account
here). Everything else, every rule and limit, is validated as printed.
"""
import itertools
import pathlib
import re
import subprocess
import sys
import tempfile


def blocks(page):
    text = pathlib.Path(page).read_text()
    examples = text[text.index(".SH EXAMPLES"):text.index(".SH FILES")]
    found = re.findall(r"^\.nf\n(.*?)^\.fi\n", examples, re.M | re.S)
    # troff escapes used in the blocks: \- is a hyphen, \e a backslash, \& nothing.
    return [b.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "") for b in found]


def main():
    policyctl, page = sys.argv[1], sys.argv[2]
    examples = blocks(page)
    if len(examples) != 2:
        sys.exit(f"man_example_valid.py: expected 2 example blocks in EXAMPLES, found {len(examples)}")
    main_file, key_file = examples
    with tempfile.TemporaryDirectory() as directory:
        here = pathlib.Path(directory)
        (here / "keys.d").mkdir()

        def fresh_key(name):
            path = here / name
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
                           check=True, stdin=subprocess.DEVNULL)
            return path.with_suffix(".pub").read_text().strip()

        counter = itertools.count()

        def localise(text):
            text = re.sub(r'"ssh-ed25519 AAAA[^"]*"', lambda _: '"' + fresh_key(f"key{next(counter)}") + '"', text)
            for system in ("/etc/portcullis/", "/var/log/portcullis/", "/run/portcullis/"):
                text = text.replace(system, str(here) + "/")
            return "\n".join(line for line in text.splitlines() if not line.startswith("user:")) + "\n"

        fresh_key("ssh_host_ed25519_key")
        (here / "portcullis.yaml").write_text(localise(main_file))
        (here / "keys.d/ci.yaml").write_text(localise(key_file))
        result = subprocess.run([policyctl, "validate", "--config", str(here / "portcullis.yaml")],
                                capture_output=True, text=True, timeout=60)
        print((result.stdout + result.stderr).strip().replace(str(here), "EXAMPLE"))
        return 0 if result.returncode == 0 and "3 keys" in result.stdout else 1


if __name__ == "__main__":
    sys.exit(main())
