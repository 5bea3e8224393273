"""Stack probes run inside an instance (python3 standard library only; run as root).

stackinfra.py (testinfra) and the scenarios' side_effect.yml (ansible.builtin.script) run this file
with one JSON argument and read one JSON object from stdout. QuestDB's admin credentials are read from
server.conf on the QuestDB host itself, so no secret travels on a command line. Actions:

  {"action": "snapshot", "url", "conf", "tables", "service", "link", "wal_timeout",
   "cutoffs": {table: ts}?, "stopped_unit": unit?}
      Waits until QuestDB has applied every WAL transaction of `tables`, then reports per table and
      per materialized view the row count, max(timestamp), the settled count (a table's every row; a
      view's rows before its last bucket, which is still open: rows the base table receives later in
      that interval add keys to it) and, with cutoffs, the settled count up to the cutoff (a table's
      rows at or before it, a view's rows before it), the tables() row and table_columns(); QuestDB's
      build(); the service's MainPID and ActiveEnter timestamps; the target of `link`; with
      stopped_unit, the `everything_delivered` flag of that unit's last "collector stopped" journal
      record.
  {"action": "wait_rows", "url", "conf", "tables", "since_us", "timeout"}
      Polls until each table has a row with timestamp > since_us (µs since the epoch); reports per
      table the seconds from since_us until the row was visible and the row's own timestamp.
"""

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def credentials(conf: str) -> tuple[str, str]:
    values = {}
    with open(conf, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values["http.user"], values["http.password"]


class QuestDB:
    def __init__(self, url: str, conf: str) -> None:
        self.url = url.rstrip("/")
        user, password = credentials(conf)
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def sql(self, query: str) -> list[dict]:
        request = urllib.request.Request(f"{self.url}/exec?{urllib.parse.urlencode({'query': query})}")
        request.add_header("Authorization", self.auth)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                answer = json.loads(response.read().decode())
        except urllib.error.HTTPError as err:
            raise SystemExit(f"{query!r}: HTTP {err.code}: {err.read().decode(errors='replace')}") from err
        names = [column["name"] for column in answer.get("columns", [])]
        return [dict(zip(names, row, strict=True)) for row in answer.get("dataset", [])]


def quote(text: object) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def wait_wal_applied(db: QuestDB, tables: list[str], timeout: float) -> list[dict]:
    """Until writerTxn == sequencerTxn for every table (WAL tables apply commits asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = {row["name"]: row for row in db.sql("SELECT * FROM wal_tables()")}
        pending = {
            name: rows.get(name)
            for name in tables
            if name not in rows
            or rows[name]["suspended"]
            or rows[name]["writerTxn"] != rows[name]["sequencerTxn"]
        }
        if not pending:
            return [rows[name] for name in tables]
        if time.monotonic() > deadline:
            raise SystemExit(f"WAL not applied after {timeout}s: {pending}")
        time.sleep(0.2)


def wait_views_refreshed(db: QuestDB, timeout: float) -> None:
    """Until every materialized view has caught up with its base table's transactions (views refresh
    asynchronously after their base's commits, a 1-hour view after its 1-minute view) and applied them."""
    deadline = time.monotonic() + timeout
    while True:
        views = db.sql("SELECT view_name, refresh_base_table_txn, base_table_txn FROM materialized_views()")
        behind = [row["view_name"] for row in views if row["refresh_base_table_txn"] != row["base_table_txn"]]
        if not behind:
            wal = {row["name"] for row in db.sql("SELECT name FROM wal_tables()")}
            names = [row["view_name"] for row in views if row["view_name"] in wal]
            wait_wal_applied(db, names, max(1.0, deadline - time.monotonic()))
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"materialized views not refreshed after {timeout}s: {behind}")
        time.sleep(0.2)


def systemd_show(unit: str, properties: list[str]) -> dict[str, str]:
    argv = ["systemctl", "show", unit] + [f"--property={p}" for p in properties]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def last_stop_record(unit: str) -> dict | None:
    argv = ["journalctl", "--unit", unit, "--output", "cat", "--no-pager", "--lines", "200"]
    out = subprocess.run(argv, check=False, capture_output=True, text=True).stdout
    record = None
    for line in out.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("message", entry.get("msg")) == "collector stopped":
            record = entry
    return record


def count_to(db: QuestDB, name: str, operator: str, ts: object) -> int:
    query = f"SELECT count() AS count FROM {name} WHERE timestamp {operator} {quote(ts)}"
    return int(db.sql(query)[0]["count"])


def snapshot(args: dict) -> dict:
    db = QuestDB(args["url"], args["conf"])
    tables = args["tables"]
    result = {"wal": wait_wal_applied(db, tables, args.get("wal_timeout", 60)), "tables": {}}
    wait_views_refreshed(db, args.get("wal_timeout", 60))  # the views' counts are read below
    listing = {row["table_name"]: row for row in db.sql("SELECT * FROM tables()")}
    views = sorted(name for name, row in listing.items() if row.get("matView"))
    result["views"] = views
    result["build"] = db.sql("SELECT build() AS build")[0]["build"]
    for name in [*tables, *views]:
        stats = db.sql(f"SELECT count() AS count, max(timestamp) AS max_ts FROM {name}")[0]
        settled = "<" if name in views else "<="
        entry = {
            "count": stats["count"],
            "settled": count_to(db, name, settled, stats["max_ts"]) if stats["max_ts"] is not None else 0,
            "max_ts": stats["max_ts"],
            "tables_row": listing.get(name),
            "columns": db.sql(f"SELECT * FROM table_columns({quote(name)})"),
        }
        cutoff = (args.get("cutoffs") or {}).get(name)
        if cutoff is not None:
            entry["count_at_cutoff"] = count_to(db, name, settled, cutoff)
        result["tables"][name] = entry
    if args.get("service"):
        props = ["MainPID", "ActiveState", "ActiveEnterTimestamp", "ActiveEnterTimestampMonotonic"]
        result["service"] = systemd_show(args["service"], props)
    if args.get("link"):
        result["link"] = os.path.realpath(args["link"])
    if args.get("stopped_unit"):
        result["stop_record"] = last_stop_record(args["stopped_unit"])
    return result


def wait_rows(args: dict) -> dict:
    db = QuestDB(args["url"], args["conf"])
    since_us = int(args["since_us"])
    since_iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since_us // 1_000_000))
    since_iso += f".{since_us % 1_000_000:06d}Z"
    deadline = time.time() + float(args["timeout"])
    seen = {}
    while len(seen) < len(args["tables"]) and time.time() < deadline:
        for name in args["tables"]:
            if name in seen:
                continue
            query = f"SELECT min(timestamp) AS first_ts, count() AS count FROM {name}"
            row = db.sql(f"{query} WHERE timestamp > {quote(since_iso)}")[0]
            if row["count"]:
                seen[name] = {
                    "visible_after_s": round(time.time() - since_us / 1e6, 2),
                    "first_ts": row["first_ts"],
                    "rows": row["count"],
                }
        time.sleep(0.1)
    return {"since": since_iso, "tables": seen, "missing": [t for t in args["tables"] if t not in seen]}


if __name__ == "__main__":
    request = json.loads(sys.argv[1])
    print(json.dumps({"snapshot": snapshot, "wait_rows": wait_rows}[request["action"]](request)))
