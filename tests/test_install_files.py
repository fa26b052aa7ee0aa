"""Install files pin only registry releases: a fresh machine must be able to install them."""

from __future__ import annotations

import re

from conftest import ROOT

#: A pin naming a file, a URL or a path instead of a release (`name==version`).
_LOCAL = re.compile(r"@|file:|://|^[./~]")


def test_constraints_pin_only_registry_releases():
    files = [ROOT / "constraints.txt", *sorted((ROOT / "bench").glob("requirements*.txt"))]
    offending = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            pin = line.split("#", 1)[0].strip()
            if pin and (_LOCAL.search(pin) or "==" not in pin and not pin.startswith("-")):
                offending.append(f"{path.name}:{number}: {pin}")
    assert not offending, "pins that are not registry releases:\n" + "\n".join(offending)
