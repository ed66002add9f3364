#!/usr/bin/env python3
"""Every file a document names in backticks exists (the docs stay true to the tree).

Reads README.md, BENCHMARKS.md, docs/*.md and each crate's README.md; a backticked name ending in
.rs/.py/.sh/.toml/.md/.c passes when it is a path from the repository root or from the
document's folder, or when a tracked file's path ends with it (`checks/host.rs`, `tearing.rs`).
`shared/...` names the source documents beside the clone (../shared) and is not checked. A name right after
"then" or "formerly" is history and is not checked. Exit status 1 lists the stale names."""
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True).stdout.split()
docs = ["README.md", "BENCHMARKS.md"] + sorted(glob.glob("docs/*.md")) + sorted(glob.glob("*/README.md"))
name = re.compile(r"(?<![\w])(then|formerly)?\s*\(?`([A-Za-z0-9_./-]+\.(?:rs|py|sh|toml|md|c))(?::\d+(?:-\d+)?)?`")

def exists(doc, path):
    if path.startswith(("shared/", "../shared/")):
        return True  # the source documents beside the clone, not part of this tree
    if os.path.exists(path) or os.path.exists(os.path.join(os.path.dirname(doc), path)):
        return True
    return any(t == path or t.endswith("/" + path) for t in tracked)

stale = []
for doc in docs:
    if doc not in tracked:
        continue
    for lineno, line in enumerate(open(doc, encoding="utf-8"), 1):
        for m in name.finditer(line):
            if m.group(1) or m.group(2).startswith("$"):
                continue
            if not exists(doc, m.group(2)):
                stale.append(f"{doc}:{lineno}: `{m.group(2)}` names no file")
for s in stale:
    print(s)
if stale:
    sys.exit(1)
print(f"{len(docs)} documents: every named file exists")
