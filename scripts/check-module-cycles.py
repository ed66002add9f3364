#!/usr/bin/env python3
"""Fails when a crate of the workspace has an import cycle between its modules.

For every parent module P (the crate root included) the check draws a graph over P's direct
child modules: an arrow A -> B when code anywhere under A names a path under B (`crate::b::..`,
`super::b::..`, `self::b::..`, or a `use b::..` of a child). Paths that name P itself or an
ancestor are not arrows: a child using its parent's items is what nesting means. A cycle in any
of these graphs (crypto -> platform -> crypto, ctap -> state -> ctap, ...) is reported with the
files and lines that make each arrow, and the exit status is 1.

Test code is left out: `#[cfg(test)]` modules, `tests.rs` files declared under `#[cfg(test)]`,
and the crate's tests/, benches/ and examples/ directories (they are separate crates).

Usage: scripts/check-module-cycles.py [CRATE_DIR ...]   (default: every workspace member)
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
PATH_RE = re.compile(r"\b((?:crate|super|self)(?:\s*::\s*" + IDENT + r")+)")
USE_RE = re.compile(r"\buse\s+([^;]+);", re.S)
MOD_DECL_RE = re.compile(r"((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;")


def strip_comments_and_strings(text):
    """Blanks comments, string and char literals, keeping line breaks (for line numbers)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i : j + 1]))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4] + "    "):
            m = re.match(r"'(\\[^']*|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def blank_cfg_test_blocks(code):
    """Blanks inline `#[cfg(test)] mod x { ... }` blocks."""
    for m in list(re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+" + IDENT + r"\s*\{", code)):
        start, depth, j = m.start(), 1, m.end()
        while j < len(code) and depth:
            if code[j] == "{":
                depth += 1
            elif code[j] == "}":
                depth -= 1
            j += 1
        code = code[:start] + re.sub(r"[^\n]", " ", code[start:j]) + code[j:]
    return code


class Crate:
    def __init__(self, directory):
        self.dir = directory
        self.modules = {}  # tuple path -> (file, code)
        src = directory / "src"
        root = src / "lib.rs" if (src / "lib.rs").exists() else src / "main.rs"
        self.load((), root)

    def load(self, path, file):
        code = blank_cfg_test_blocks(strip_comments_and_strings(file.read_text()))
        self.modules[path] = (file, code)
        base = file.parent if file.name in ("lib.rs", "main.rs", "mod.rs") else file.with_suffix("")
        for m in MOD_DECL_RE.finditer(code):
            attrs, name = m.group(1), m.group(2)
            if "cfg(test)" in attrs:
                continue
            explicit = re.search(r'#\[path\s*=\s*"([^"]+)"\]', attrs)
            candidates = [base / f"{name}.rs", base / name / "mod.rs"]
            child = next((c for c in candidates if c.exists()), None)
            if explicit is None and child is not None:
                self.load(path + (name,), child)

    def resolve(self, module, segments):
        """The module a path written in `module` names (longest known prefix), or None."""
        if not segments:
            return None
        if segments[0] == "crate":
            target, rest = (), segments[1:]
        elif segments[0] in ("super", "self"):
            target, rest = module, segments
            while rest and rest[0] in ("super", "self"):
                if rest[0] == "super":
                    target = target[:-1]
                rest = rest[1:]
        elif module + (segments[0],) in self.modules:
            target, rest = module, segments
        else:
            return None
        for seg in rest:
            if target + (seg,) in self.modules:
                target = target + (seg,)
            else:
                break
        return target

    def references(self):
        """(from module, to module, line) for every path naming a module of this crate."""
        for module, (_, code) in self.modules.items():
            for m in PATH_RE.finditer(code):
                segs = tuple(s.strip() for s in m.group(1).split("::"))
                yield module, self.resolve(module, segs), code.count("\n", 0, m.start()) + 1
            for m in USE_RE.finditer(code):
                line = code.count("\n", 0, m.start()) + 1
                for segs in expand_use(m.group(1)):
                    if segs and segs[0] not in ("crate", "super", "self"):
                        yield module, self.resolve(module, segs), line


def expand_use(tree):
    """The paths of a use tree: `a::{b, c::d}` -> (a, b), (a, c, d)."""
    tree = re.sub(r"\s+", "", tree)
    tree = re.sub(r"\bas" + IDENT, "", tree)

    def walk(prefix, text):
        depth, parts, cur = 0, [], ""
        for ch in text:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += ch == "{"
            depth -= ch == "}"
            cur += ch
        parts.append(cur)
        for part in filter(None, parts):
            if "{" in part:
                head, inner = part.split("{", 1)
                yield from walk(prefix + tuple(filter(None, head.split("::"))), inner[: inner.rfind("}")])
            else:
                yield prefix + tuple(s for s in part.split("::") if s and s != "*")

    return list(walk((), tree))


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check(crate_dir):
    crate = Crate(crate_dir)
    name = crate_dir.name
    # parent -> {child a -> {child b -> [evidence]}}
    graphs = {}
    for src, dst, line in crate.references():
        if dst is None:
            continue
        # The deepest common ancestor; arrows into it or above are not counted.
        common = 0
        while common < min(len(src), len(dst)) and src[common] == dst[common]:
            common += 1
        if common == len(dst) or common == len(src):
            continue
        parent, a, b = src[:common], src[common], dst[common]
        file = crate.modules[src][0].relative_to(ROOT)
        graphs.setdefault(parent, {}).setdefault(a, {}).setdefault(b, []).append(f"{file}:{line}")
    failures = 0
    for parent, graph in sorted(graphs.items()):
        adjacency = {a: set(bs) for a, bs in graph.items()}
        for comp in cycles(adjacency):
            failures += 1
            where = "::".join(("crate",) + parent)
            print(f"{name}: import cycle under {where}: {' <-> '.join(comp)}")
            for a in comp:
                for b in comp:
                    if b in graph.get(a, {}):
                        ev = graph[a][b]
                        print(f"  {a} -> {b}: {', '.join(ev[:3])}{' ...' if len(ev) > 3 else ''}")
    return failures, len(crate.modules)


def workspace_members():
    text = (ROOT / "Cargo.toml").read_text()
    m = re.search(r"members\s*=\s*\[([^\]]*)\]", text)
    return [ROOT / s for s in re.findall(r'"([^"]+)"', m.group(1))] if m else []


def main():
    dirs = [Path(a).resolve() for a in sys.argv[1:]] or workspace_members()
    total = 0
    for d in dirs:
        failures, modules = check(d)
        total += failures
        print(f"{d.name}: {modules} modules, {'no import cycle' if not failures else f'{failures} cycle(s)'}")
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
