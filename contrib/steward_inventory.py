#!/usr/bin/env python3
"""Ansible dynamic inventory from a Steward region.

    export STEWARD_URL=http://127.0.0.1:3000      # a node of the region
    export STEWARD_TOKEN=...                      # GET /api/auth; or STEWARD_USER + STEWARD_PASSWORD
    ansible-inventory -i contrib/steward_inventory.py --list

Hosts are the pods the credentials may see (running ones; STEWARD_ALL_PODS=1 for all),
grouped by provider, project, node and label; `_meta.hostvars` carries their address,
labels and tags. Standard library only.
"""

import base64
import json
import os
import sys
import urllib.error
import urllib.request


def fetch():
    url = os.environ.get("STEWARD_URL", "http://127.0.0.1:3000").rstrip("/")
    query = "?all=true" if os.environ.get("STEWARD_ALL_PODS") in ("1", "true") else ""
    request = urllib.request.Request(url + "/api/ansible/inventory" + query)
    token = os.environ.get("STEWARD_TOKEN")
    if token:
        request.add_header("X-Auth-Token", token)
    elif os.environ.get("STEWARD_USER"):
        pair = "%s:%s" % (os.environ["STEWARD_USER"], os.environ.get("STEWARD_PASSWORD", ""))
        request.add_header("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    else:
        sys.exit("steward_inventory: set STEWARD_TOKEN, or STEWARD_USER and STEWARD_PASSWORD")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        try:
            message = json.load(error)["error"]["message"]
        except Exception:  # noqa: BLE001 - any unreadable body
            message = error.reason
        sys.exit("steward_inventory: %s %s: %s" % (error.code, url, message))
    except urllib.error.URLError as error:
        sys.exit("steward_inventory: cannot reach %s: %s" % (url, error.reason))


def main(argv):
    if len(argv) == 2 and argv[1] == "--list":
        json.dump(fetch(), sys.stdout)
    elif len(argv) == 3 and argv[1] == "--host":
        json.dump(fetch().get("_meta", {}).get("hostvars", {}).get(argv[2], {}), sys.stdout)
    else:
        sys.exit("usage: steward_inventory.py --list | --host HOST")


if __name__ == "__main__":
    main(sys.argv)
