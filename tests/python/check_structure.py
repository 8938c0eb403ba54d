#!/usr/bin/env python3
"""Keeps the code's shape what docs/design.md says it is.

1. Module dependencies: the "Modules" table of docs/design.md lists, for each module, the modules
   it may include. Every `#include "dwipack/..."` in src/<module>/ and include/dwipack/<module>/
   must name one of them (or the module itself).
2. Function length: no function in src/pipeline/ is longer than MAX_LINES lines (the top layer
   stays readable; long bodies belong in named steps).

Exit status 1 with one line per violation.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAX_LINES = 80
# Top-level headers that are their own modules: dwipack/error.hpp is "error", and so on.
TOP_LEVEL = {"error.hpp": "error", "version.hpp": "version", "config.hpp": "config"}


def module_table():
    """{module: set(allowed)} from the design document's table rows "| `name/` | ... | `a`, `b` |"."""
    text = (ROOT / "docs" / "design.md").read_text()
    section = text.split("## Modules", 1)[1].split("\n## ", 1)[0]
    table = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        name = re.match(r"`([\w]+)/?`", cells[0])
        if not name:
            continue
        allowed = set(re.findall(r"`([\w]+)/?`", cells[2]))
        table[name.group(1)] = allowed | {name.group(1)}
    return table


def module_of_include(target):
    parts = target.split("/")
    if len(parts) == 1:
        return TOP_LEVEL.get(parts[0], parts[0].removesuffix(".hpp"))
    return parts[0]


def check_dependencies(table, problems):
    for module, allowed in table.items():
        roots = [ROOT / "src" / module, ROOT / "include" / "dwipack" / module]
        files = [ROOT / "src" / f"{module}.cpp", ROOT / "include" / "dwipack" / f"{module}.hpp"]
        for r in roots:
            if r.is_dir():
                files += [p for p in r.rglob("*") if p.suffix in (".cpp", ".hpp")]
        for path in files:
            if not path.is_file():
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                m = re.match(r'\s*#include\s+"dwipack/([^"]+)"', line)
                if not m:
                    continue
                target = module_of_include(m.group(1))
                if target not in allowed:
                    problems.append(f"{path.relative_to(ROOT)}:{n}: module '{module}' includes "
                                    f"'{m.group(1)}' (module '{target}'), which docs/design.md "
                                    f"does not allow it to know")
    # Every source folder must be in the table, or nothing is checked for it.
    for d in sorted((ROOT / "src").iterdir()):
        if d.is_dir() and d.name not in table:
            problems.append(f"src/{d.name}/: not in docs/design.md's module table")


CONTROL = re.compile(r"^\s*(\}\s*)?(if|for|while|switch|catch|else|do|try)\b")


def check_function_lengths(folder, problems):
    for path in sorted(folder.glob("*.cpp")):
        lines = path.read_text().splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            # A function body opens at a line ending in ") {" / ") const {" / ") override {",
            # or a constructor's initializer list "... {"; not control statements or lambdas.
            opens = re.search(r"\)\s*(const\s*)?(override\s*)?(noexcept\s*)?\{\s*$", line)
            if opens and not CONTROL.match(line) and "](" not in line and "[&" not in line \
                    and "[=" not in line and "[this" not in line:
                depth = 0
                for j in range(i, len(lines)):
                    depth += lines[j].count("{") - lines[j].count("}")
                    if depth <= 0:
                        break
                length = j - i + 1
                if length > MAX_LINES:
                    problems.append(f"{path.relative_to(ROOT)}:{i + 1}: function of {length} lines "
                                    f"(at most {MAX_LINES} in src/pipeline/)")
                i = j + 1
                continue
            i += 1


def main():
    problems = []
    table = module_table()
    if len(table) < 8:
        problems.append(f"docs/design.md: module table not found or incomplete ({sorted(table)})")
    check_dependencies(table, problems)
    check_function_lengths(ROOT / "src" / "pipeline", problems)
    for p in problems:
        print(p)
    print(f"check_structure: {len(table)} modules, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
