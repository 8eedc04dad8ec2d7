#!/usr/bin/env python3
"""A CycloneDX 1.5 SBOM (JSON) of what the release binaries are built from.

    scripts/sbom.py VERSION > monitor-VERSION.cdx.json

Components: every crate that monitor-server or monitor-agent links on
Linux (from `cargo metadata --locked`: the resolved graph from those two
packages, normal dependencies only, build and dev dependencies left out),
and every npm package of the dashboard embedded in the server (from
monitor-server/web/package-lock.json, dev packages left out). Each has its
version, a package URL (purl), its license where declared, and for crates
from crates.io the registry checksum of Cargo.lock.
"""

import json
import pathlib
import subprocess
import sys
import uuid
import datetime

ROOT = pathlib.Path(__file__).resolve().parent.parent
BINARIES = ("monitor-server", "monitor-agent")


def crates():
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1",
         "--filter-platform", "x86_64-unknown-linux-gnu"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    roots = [p["id"] for p in meta["packages"] if p["name"] in BINARIES and p["source"] is None]
    seen, todo = set(), list(roots)
    while todo:
        node = nodes[todo.pop()]
        if node["id"] in seen:
            continue
        seen.add(node["id"])
        for dep in node["deps"]:
            if any(k["kind"] is None for k in dep["dep_kinds"]):
                todo.append(dep["pkg"])
    checksums = {}
    lock = (ROOT / "Cargo.lock").read_text()
    for block in lock.split("[[package]]")[1:]:
        fields = dict(line.split(" = ", 1) for line in block.strip().splitlines() if " = " in line)
        if "checksum" in fields:
            checksums[(fields["name"].strip('"'), fields["version"].strip('"'))] = fields["checksum"].strip('"')
    out = []
    for pid in sorted(seen, key=lambda i: (packages[i]["name"], packages[i]["version"])):
        p = packages[pid]
        component = {
            "type": "application" if p["name"] in BINARIES else "library",
            "bom-ref": f"pkg:cargo/{p['name']}@{p['version']}",
            "name": p["name"],
            "version": p["version"],
            "purl": f"pkg:cargo/{p['name']}@{p['version']}",
        }
        if p.get("license"):
            component["licenses"] = [{"expression": p["license"]}]
        checksum = checksums.get((p["name"], p["version"]))
        if checksum:
            component["hashes"] = [{"alg": "SHA-256", "content": checksum}]
        out.append(component)
    return out


def npm_packages():
    lock = json.loads((ROOT / "monitor-server/web/package-lock.json").read_text())
    out = []
    for path, p in sorted(lock.get("packages", {}).items()):
        if not path or p.get("dev") or p.get("devOptional") or "version" not in p:
            continue
        name = p.get("name") or path.split("node_modules/")[-1]
        purl_name = name.replace("@", "%40", 1) if name.startswith("@") else name
        component = {
            "type": "library",
            "bom-ref": f"pkg:npm/{purl_name}@{p['version']}",
            "name": name,
            "version": p["version"],
            "purl": f"pkg:npm/{purl_name}@{p['version']}",
        }
        if p.get("license"):
            component["licenses"] = [{"expression": p["license"]}]
        out.append(component)
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: scripts/sbom.py VERSION")
    version = sys.argv[1]
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "component": {"type": "application", "name": "monitor", "version": version,
                          "bom-ref": f"monitor@{version}"},
        },
        "components": crates() + npm_packages(),
    }
    json.dump(bom, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
