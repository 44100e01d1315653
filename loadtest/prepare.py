"""Credentials for the load test: a supervisor, an integration for the weekly batch and
OAuth clients for a sample of agents, created with the `rota` binary against the database of a
running `rota serve`, written to one JSON file the locustfile reads.

    python3 loadtest/prepare.py --seed-json seed.json --out loadtest/credentials.json

Standard library only, so it runs before any virtual environment exists.
"""

import argparse
import base64
import json
import subprocess
import sys
import urllib.parse
import urllib.request


def rota(binary, database_url, *args):
    out = subprocess.run(
        [binary, *args, "--database-url", database_url],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def token(base_url, client):
    basic = base64.b64encode(f"{client['clientId']}:{client['clientSecret']}".encode()).decode()
    request = urllib.request.Request(
        f"{base_url}/oauth/token",
        data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
        headers={"Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(request) as reply:
        return json.load(reply)["access_token"]


def get(base_url, bearer, path):
    request = urllib.request.Request(f"{base_url}{path}", headers={"Authorization": f"Bearer {bearer}"})
    with urllib.request.urlopen(request) as reply:
        return json.load(reply)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed-json", required=True, help="what `rota seed --publish` printed")
    parser.add_argument("--out", default="loadtest/credentials.json")
    parser.add_argument("--rota", default="rota", help="the rota binary")
    parser.add_argument("--database-url", default="sqlite://rota.db")
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--agents", type=int, default=40, help="agents with a client of their own")
    args = parser.parse_args()

    with open(args.seed_json) as f:
        seed = json.load(f)
    bu = seed["businessUnitId"]
    supervisor = rota(args.rota, args.database_url, "clients", "create", "--role", "supervisor", "--business-unit", bu)
    integration = rota(args.rota, args.database_url, "clients", "create", "--role", "integration", "--business-unit", bu)
    listed = get(args.base_url, token(args.base_url, supervisor), f"/api/v2/wfm/business-units/{bu}/agents?limit={args.agents}")
    agents = []
    for agent in listed["items"]:
        client = rota(args.rota, args.database_url, "clients", "create", "--role", "agent", "--agent-id", agent["id"])
        agents.append({"agentId": agent["id"], "availability": agent["availability"], **client})
    credentials = {
        "businessUnitId": bu,
        "scheduleId": seed["scheduleId"],
        "supervisor": supervisor,
        "integration": integration,
        "agents": agents,
    }
    with open(args.out, "w") as f:
        json.dump(credentials, f, indent=1)
    print(f"wrote {args.out}: a supervisor, an integration and {len(agents)} agents", file=sys.stderr)


if __name__ == "__main__":
    main()
