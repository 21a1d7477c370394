"""Background activity on a simulated site: a seeded stream of random mutations.

``Churn(site, interval=2.0, seed=1).start()`` makes one change every
``interval`` seconds (new requests, status changes, worklogs added, edited or
deleted, the odd move between projects) through the site's mutation hooks, so
an incremental sync against ``ticketbook fake-jira --churn 2`` has work to do.
"""

from __future__ import annotations

import random
import threading

from cache.fakejira.model import Site


class Churn:
    def __init__(self, site: Site, interval: float = 2.0, *, seed: int = 1) -> None:
        self.site = site
        self.interval = interval
        self.rng = random.Random(seed)
        self.changes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> str:
        """Make one random change; returns what it did."""
        site, rng = self.site, self.rng
        with site.lock:
            issues = list(site.issues)
            if not issues:
                site.create_issue(rng.choice(site.projects).key)
                return "create"
            iid = issues[int(rng.random() ** 0.3 * len(issues)) - 1]  # recent issues are busier
            issue = site.issues[iid]
            x = rng.random()
            if x < 0.15:
                desk_projects = [p for p in site.projects if p.projectTypeKey == "service_desk"] or site.projects
                site.create_issue(rng.choice(desk_projects).key, summary=f"New request #{self.changes}")
                kind = "create"
            elif x < 0.45:
                status = rng.choice(site.statuses)
                done = site.status_category_of(status.id).key == "done"
                site.update_issue(iid, status=status.id,
                                  resolution=site.resolutions[0].id if done and site.resolutions else None,
                                  resolutiondate=site.now if done else None)
                kind = "status"
            elif x < 0.75:
                site.add_worklog(iid, seconds=rng.randint(1, 16) * 900)
                kind = "worklog+"
            elif x < 0.88 and issue.worklogIds:
                site.update_worklog(rng.choice(issue.worklogIds), seconds=rng.randint(1, 16) * 900)
                kind = "worklog~"
            elif x < 0.95 and issue.worklogIds:
                site.delete_worklog(rng.choice(issue.worklogIds))
                kind = "worklog-"
            elif x < 0.98:
                site.update_issue(iid, priority=rng.choice(site.priorities).id)
                kind = "priority"
            else:
                others = [p for p in site.projects if p.id != issue.projectId]
                site.move_issue(iid, rng.choice(others).key)
                kind = "move"
            self.changes += 1
            return kind

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.step()

    def start(self) -> "Churn":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fake-jira-churn", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
