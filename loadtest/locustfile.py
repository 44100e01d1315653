"""A load-test plan for rota in Locust: agents in the self-service portal and a supervisor's
weekly bulk shift-swap batch, against a running `rota serve`.

Answers that are outcomes of the domain, not faults, are counted as successes under their own
names, so Locust's report separates them: a 409 (a shift the request touches changed) and a 422
(a rule refused the change) are what a portal under load answers; anything else that is not
2xx is a failure. See README.md ("Load testing") for the commands; the credentials come from
loadtest/prepare.py.
"""

import itertools
import json
import os
import random
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from locust import HttpUser, between, events, task

CREDENTIALS = os.environ.get("ROTA_CREDENTIALS", "loadtest/credentials.json")
_data = {}

# Statuses that are answers of the domain under concurrency, each reported under its own name.
OUTCOMES = {409: "conflict", 422: "refused"}
# A listed offer that another agent matched first is no longer visible to this one: rota
# answers 404 for a trade outside the caller's view, so for a match it means "taken".
GONE = {404: "gone"}


@events.init.add_listener
def _load(environment, **_kwargs):
    with open(CREDENTIALS) as f:
        _data.update(json.load(f))
    _data["agent_cycle"] = itertools.cycle(_data["agents"])


def classify(response, name, outcomes=OUTCOMES):
    """Marks a response: 2xx and the domain's outcomes succeed (renamed by outcome), the rest fail."""
    if response.status_code in outcomes:
        response.request_meta["name"] = f"{name} [{outcomes[response.status_code]}]"
        response.success()
    elif 200 <= response.status_code < 300:
        response.success()
    else:
        response.failure(f"{response.status_code}: {response.text[:300]}")


class RotaUser(HttpUser):
    abstract = True
    client_info = None

    def on_start(self):
        reply = self.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(self.client_info["clientId"], self.client_info["clientSecret"]),
            name="/oauth/token",
        )
        reply.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"

    def call(self, method, path, name, outcomes=OUTCOMES, **kwargs):
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
            classify(response, name, outcomes)
            return response


class PortalAgent(RotaUser):
    """An agent in the portal: reads their week, saves availability, picks up and releases
    shifts, offers trades and takes others' offers."""

    weight = 10
    wait_time = between(0.2, 1.0)

    def on_start(self):
        self.me = next(_data["agent_cycle"])
        self.client_info = self.me
        super().on_start()
        self.week = None

    def my_week(self):
        if self.week is None:
            schedule = self.call("GET", f"/api/v2/wfm/schedules/{_data['scheduleId']}?limit=1", "schedule").json()
            self.week = schedule["weekStart"]
        reply = self.call("GET", f"/api/v2/wfm/agents/me/schedule?weekDate={self.week}", "my schedule")
        return reply.json() if reply.ok else None

    @task(4)
    def read_my_week(self):
        self.my_week()

    @task(1)
    def save_availability(self):
        self.call(
            "PUT",
            f"/api/v2/wfm/agents/{self.me['agentId']}/availability",
            "availability",
            json=self.me["availability"],
        )

    @task(2)
    def pick_up_an_open_shift(self):
        week = self.my_week()
        if week and week["openShifts"]:
            shift = random.choice(week["openShifts"])
            self.call("POST", f"/api/v2/wfm/agents/me/shifts/{shift['id']}/pickup", "pickup")

    @task(1)
    def release_a_shift(self):
        week = self.my_week()
        if week and week["shifts"]:
            shift = random.choice(week["shifts"])
            self.call("POST", f"/api/v2/wfm/agents/me/shifts/{shift['id']}/release", "release")

    @task(1)
    def offer_a_trade(self):
        week = self.my_week()
        if week and week["shifts"]:
            shift = random.choice(week["shifts"])
            self.call(
                "POST",
                "/api/v2/wfm/trades",
                "offer trade",
                json={
                    "shiftId": shift["id"],
                    "acceptableIntervals": [{"start": shift["window"]["start"], "end": shift["window"]["end"]}],
                    "expiresAt": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat(),
                },
            )

    @task(1)
    def take_an_offer(self):
        offers = self.call("GET", "/api/v2/wfm/trades?state=Unmatched&limit=20", "open trades")
        if not offers.ok:
            return
        mine = {s["window"]["start"]: s for s in (self.my_week() or {}).get("shifts", [])}
        for trade in offers.json()["items"]:
            if trade["initiatingAgentId"] == self.me["agentId"]:
                continue
            body = {"version": trade["version"]}
            wanted = [i["start"] for i in trade["acceptableIntervals"] if i["start"] in mine]
            if wanted:
                body["shiftId"] = mine[wanted[0]]["id"]
            self.call(
                "POST",
                f"/api/v2/wfm/trades/{trade['id']}/match",
                "match trade",
                outcomes={**OUTCOMES, **GONE},
                json=body,
            )
            return


class Supervisor(RotaUser):
    """The weekly batch: swaps of same-time phone shifts, 50 to a request, partial mode, each
    request under an idempotency key; and the trade review queue."""

    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self):
        self.client_info = _data["supervisor"]
        super().on_start()
        self.pairs = []

    def plan(self):
        shifts, offset = [], 0
        while True:
            page = self.call(
                "GET", f"/api/v2/wfm/schedules/{_data['scheduleId']}?limit=1000&offset={offset}", "schedule page"
            ).json()
            items = page["shifts"]["items"]
            shifts.extend(items)
            offset += len(items)
            if not items or offset >= page["shifts"]["total"]:
                break
        slots = defaultdict(list)
        for s in shifts:
            if s.get("owner") and s.get("requiredSkill") == "phone":
                slots[(s["window"]["start"], s["window"]["end"])].append(s)
        pairs = [(a, b) for slot in slots.values() for a, b in zip(slot[::2], slot[1::2])]
        random.shuffle(pairs)
        self.version = page["scheduleVersionId"]
        self.pairs = pairs

    @task(5)
    def swap_fifty(self):
        if len(self.pairs) < 50:
            self.plan()
        chunk, self.pairs = self.pairs[:50], self.pairs[50:]
        body = {
            "scheduleVersionId": self.version,
            "mode": "partial",
            "shiftSwaps": [
                {
                    "agentId": a["owner"],
                    "originalShiftId": a["id"],
                    "newShiftId": b["id"],
                    "counterpartAgentId": b["owner"],
                    "reasonCode": "supervisor",
                }
                for a, b in chunk
            ],
        }
        self.call(
            "POST",
            "/api/v2/wfm/schedules/shift-swaps",
            "shift-swaps (50)",
            json=body,
            headers={"Idempotency-Key": f"locust-{uuid.uuid4()}"},
        )

    @task(1)
    def review_trades(self):
        matched = self.call("GET", "/api/v2/wfm/trades?state=Matched&limit=20", "matched trades")
        if not matched.ok or not matched.json()["items"]:
            return
        reviews = [
            {"tradeId": t["id"], "version": t["version"], "decision": random.choice(["approve", "deny"])}
            for t in matched.json()["items"]
        ]
        self.call("POST", "/api/v2/wfm/trades/reviews", "review trades", json={"reviews": reviews})
