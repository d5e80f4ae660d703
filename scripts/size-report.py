#!/usr/bin/env python3
"""Prints the figures docs/architecture.md holds the code to: lines per module, Swift files over
600 lines, functions over 80 lines (Sources only). Exit status 1 when a limit is exceeded, so
`make check` fails on a regression; `--report` prints without failing."""
import os, re, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources")
MODULE_LIMIT, FILE_LIMIT, FUNCTION_LIMIT = 3000, 600, 80
START = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|package|private|fileprivate|internal|static|final|override|"
                   r"nonisolated|mutating|convenience|required|class)\s+)*(func\s+[^\s(<]+|init[?!]?\s*[(<]|subscript\s*[(<])")

def functions(path):
    """(name, first line, length) of each function, counted from its head to its closing brace."""
    lines = open(path, encoding="utf-8").read().split("\n")
    found = []
    for i, line in enumerate(lines):
        m = START.match(line)
        if not m:
            continue
        depth, opened = 0, False
        for j in range(i, len(lines)):
            code = re.sub(r'"(?:\\.|[^"\\])*"', '""', lines[j]).split("//")[0]
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                found.append((m.group(1).strip(), i + 1, j - i + 1))
                break
            if not opened and j > i + 8:
                break  # a requirement in a protocol: no body
    return found

def main():
    fail = "--report" not in sys.argv
    modules, big_files, big_functions = {}, [], []
    for module in sorted(os.listdir(ROOT)):
        total = 0
        for folder, _, files in os.walk(os.path.join(ROOT, module)):
            for name in files:
                if not name.endswith(".swift"):
                    continue
                path = os.path.join(folder, name)
                count = sum(1 for _ in open(path, encoding="utf-8"))
                total += count
                rel = os.path.relpath(path, os.path.join(ROOT, ".."))
                if count > FILE_LIMIT:
                    big_files.append((count, rel))
                big_functions += [(n, rel, line, name_) for name_, line, n in functions(path) if n > FUNCTION_LIMIT]
        if total:
            modules[module] = total
    print(f"Modules (Swift lines; limit about {MODULE_LIMIT}):")
    for module, total in sorted(modules.items(), key=lambda m: -m[1]):
        print(f"  {total:6d}  {module}{'   over' if total > MODULE_LIMIT else ''}")
    print(f"Files over {FILE_LIMIT} lines: {len(big_files)}")
    for count, rel in sorted(big_files, reverse=True):
        print(f"  {count:6d}  {rel}")
    print(f"Functions over {FUNCTION_LIMIT} lines: {len(big_functions)}")
    for n, rel, line, name in sorted(big_functions, reverse=True):
        print(f"  {n:6d}  {rel}:{line} {name}")
    over = [m for m, t in modules.items() if t > MODULE_LIMIT * 1.1]
    return 1 if fail and (over or big_files or big_functions) else 0

sys.exit(main())
