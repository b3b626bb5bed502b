#!/usr/bin/env python3
"""Counts the lines of every Rust function (signature to closing brace) in the given folders.

    python3 ci/function-lengths.py [--over N] [--max M] [PATH ...]

Prints the longest functions, how many are over N lines (default 60), and exits 1 when one is
over M lines (default: no limit). Strings, characters and comments are blanked before braces
are matched, so a brace inside them does not count. Test modules are counted too.
"""

import argparse
import pathlib
import re
import sys

FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def blank(text: str) -> str:
    """The text with comments, strings and char literals replaced by spaces (newlines kept)."""
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
        elif m := re.match(r'b?r(#*)"', text[i:]):
            end = '"' + m.group(1)
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"' or text.startswith('b"', i):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'" and (m := re.match(r"'(\\.[^']*|[^\\'])'", text[i:])):
            out.append(" " * m.end())
            i += m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path: pathlib.Path):
    """Yields (name, first line, line count) for each function with a body."""
    text = blank(path.read_text())
    for m in FN.finditer(text):
        start = m.end()
        # The body opens at the first `{` outside the signature's brackets; a `;` first means
        # a declaration without a body (trait methods, extern fns).
        depth, j = 0, start
        while j < len(text):
            ch = text[j]
            if ch in "(<[":
                depth += 1
            elif ch in ")>]":
                depth -= 1
            elif ch == "-" and text.startswith("->", j):
                j += 2
                continue
            elif ch == ";" and depth <= 0:
                j = -1
                break
            elif ch == "{" and depth <= 0:
                break
            j += 1
        if j < 0 or j >= len(text):
            continue
        braces, k = 0, j
        while k < len(text):
            if text[k] == "{":
                braces += 1
            elif text[k] == "}":
                braces -= 1
                if braces == 0:
                    break
            k += 1
        first = text.count("\n", 0, m.start()) + 1
        last = text.count("\n", 0, k) + 1
        yield m.group(1), first, last - first + 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--over", type=int, default=60)
    parser.add_argument("--max", type=int, default=None)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("paths", nargs="*", default=["harness/src", "src", "lambdas", "tests"])
    args = parser.parse_args()
    found = []
    for root in args.paths:
        for path in sorted(pathlib.Path(root).rglob("*.rs")):
            if "target" in path.parts:
                continue
            for name, line, length in functions(path):
                found.append((length, f"{path}:{line}", name))
    found.sort(reverse=True)
    over = [f for f in found if f[0] > args.over]
    for length, where, name in found[: args.top]:
        print(f"{length:5}  {name}  {where}")
    print(f"{len(found)} functions; {len(over)} over {args.over} lines; longest {found[0][0] if found else 0}")
    if args.max is not None and found and found[0][0] > args.max:
        print(f"functions over {args.max} lines:")
        for length, where, name in found:
            if length > args.max:
                print(f"{length:5}  {name}  {where}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
