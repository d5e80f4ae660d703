#!/usr/bin/env python3
"""Fails when the edge agent could link SwiftNIO, Hummingbird, AsyncHTTPClient or PostgresNIO
(DESIGN §2: `lightnode` runs on small boards). Two checks: the package graph (every module
`LightNodeCLI` depends on, transitively, and the products they use), and, when a built
`lightnode` is given or found in .build/debug, the module names in its symbols."""
import json, os, re, subprocess, sys

FORBIDDEN = re.compile(r"^(NIO\w*|_NIO\w*|Hummingbird\w*|AsyncHTTPClient|PostgresNIO|ServiceLifecycle)$")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

def graph_problems():
    described = subprocess.run(["swift", "package", "describe", "--type", "json"], cwd=ROOT, check=True,
                               capture_output=True, text=True).stdout
    targets = {t["name"]: t for t in json.loads(described[described.index("{"):])["targets"]}
    seen, todo, problems = set(), ["LightNodeCLI"], []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        target = targets[name]
        todo += target.get("target_dependencies", [])
        problems += [f"{name} uses {product}" for product in target.get("product_dependencies", []) if FORBIDDEN.match(product)]
    return sorted(seen), problems

def symbol_problems(binary):
    symbols = subprocess.run(["nm", "--defined-only", binary], check=True, capture_output=True, text=True).stdout
    # Swift mangles a module name as its length then the name: $s7NIOCore…, $s11Hummingbird….
    found = set(re.findall(r"\$s\d+(NIO\w*?|Hummingbird\w*?|AsyncHTTPClient|PostgresNIO)(?=\d|[A-Z][a-z])", symbols))
    return [f"{binary} holds symbols of {module}" for module in sorted(found)]

def main():
    modules, problems = graph_problems()
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "lightnode")
    checked = os.path.exists(binary)
    if checked:
        problems += symbol_problems(binary)
    for problem in problems:
        print(f"check-edge: {problem}", file=sys.stderr)
    print(f"check-edge: lightnode links {len(modules)} modules of this package"
          + (f"; {os.path.relpath(binary, ROOT)} checked" if checked else "") + (": no NIO, Hummingbird, AsyncHTTPClient" if not problems else ""))
    return 1 if problems else 0

sys.exit(main())
