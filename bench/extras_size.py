"""Disk size of each kagglekit extra, read from the distributions installed in this venv.

    .venv/bin/python bench/extras_size.py

For each extra: the installed size of the packages it adds on top of the core install
(its requirements' closure minus the core's closure), from each distribution's RECORD.
It measures the venv it runs in (a CUDA build of torch counts its nvidia-* libraries), so
run it in the venv whose sizes you want to quote. pip has no "what would this extra cost"
query offline, which is why this walks importlib.metadata by hand.
"""

from __future__ import annotations

import re
from importlib import metadata

from packaging.requirements import Requirement


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _size(dist: metadata.Distribution) -> int:
    total = 0
    for file in dist.files or ():
        try:
            total += file.locate().stat().st_size  # type: ignore[attr-defined]
        except OSError:
            continue
    return total


def _closure(requirements: list[str]) -> set[str]:
    """Names of the installed distributions these requirements pull in (marker-aware).

    The given requirements are taken as they are (their extra already chosen); below them,
    a dependency's marker is evaluated for the extras its parent asked for.
    """
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        req = Requirement(todo.pop())
        name = _name(req.name)
        if name in seen:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for sub in dist.requires or ():
            sub_req = Requirement(sub)
            if sub_req.marker is None or any(
                sub_req.marker.evaluate({"extra": e}) for e in (req.extras or {""})
            ):
                todo.append(sub)
    return seen


def main() -> None:
    kk = metadata.distribution("kagglekit")
    plain = [r for r in kk.requires or () if Requirement(r).marker is None]
    core = _closure(plain)
    sizes = {_name(d.metadata["Name"]): _size(d) for d in metadata.distributions()}
    extras = [e for e in kk.metadata.get_all("Provides-Extra") or () if e not in ("all",)]
    print(
        f"core (numpy, pandas, scikit-learn, ...): {sum(sizes.get(n, 0) for n in core) / 1e6:,.0f} MB"
    )
    print("| extra | adds (MB) | largest packages |")
    print("| --- | ---: | --- |")
    for extra in extras:
        reqs = [
            r
            for r in kk.requires or ()
            if Requirement(r).marker is not None
            and Requirement(r).marker.evaluate({"extra": extra})
        ]
        names = _closure(reqs) - core
        added = sorted(((sizes.get(n, 0), n) for n in names), reverse=True)
        total = sum(s for s, _ in added)
        top = ", ".join(f"{n} {s / 1e6:,.0f}" for s, n in added[:3] if s > 1e6)
        print(f"| {extra} | {total / 1e6:,.0f} | {top} |")


if __name__ == "__main__":
    main()
