# Copyright: tradewatch developers
# Apache License 2.0 (see galaxy.yml)
"""A minimal client for QuestDB's REST /exec endpoint, on Ansible's open_url (no third-party deps)."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url


class QuestDBError(Exception):
    """Any failure talking to QuestDB. The message never contains the password."""


class QuestDBConnectionError(QuestDBError):
    """The server could not be reached (refused, timeout, DNS, TLS)."""


class QuestDBAuthError(QuestDBError):
    """HTTP 401/403: missing or wrong credentials."""


class QuestDBQueryError(QuestDBError):
    """QuestDB rejected a statement (HTTP 400 with {"error", "position"})."""

    def __init__(self, sql: str, error: str, position: int | None = None) -> None:
        self.sql = sql
        self.error = error
        self.position = position
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"QuestDB rejected {sql!r}: {error}{where}")


def validate_url(url: str) -> str:
    """Return the base URL without a trailing slash; refuse non-HTTP URLs and embedded credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise QuestDBError(f"url must be http(s)://host:port, got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise QuestDBError("url must not contain credentials: use the user and password options")
    return url.rstrip("/")


class QuestDBClient:
    """Runs SQL through GET /exec with HTTP basic auth (sent up front: QuestDB's 401 has no challenge)."""

    def __init__(
        self,
        url: str,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        validate_certs: bool = True,
    ) -> None:
        self.url = validate_url(url)
        self.user = user
        self.password = password
        self.timeout = timeout
        self.validate_certs = validate_certs

    def exec(self, sql: str) -> dict[str, Any]:
        """Run one statement; return the decoded JSON answer ({"ddl": "OK"} for DDL)."""
        target = f"{self.url}/exec?{urlencode({'query': sql})}"
        auth: dict[str, Any] = {}
        if self.user:
            auth = {"url_username": self.user, "url_password": self.password or "", "force_basic_auth": True}
        try:
            resp = open_url(
                target,
                method="GET",
                headers={"Accept": "application/json"},
                timeout=self.timeout,
                validate_certs=self.validate_certs,
                follow_redirects="none",
                **auth,
            )
            body = resp.read()
        except HTTPError as err:
            raise self._http_error(err, sql) from None
        except (URLError, UrlsConnectionError, http.client.HTTPException, OSError) as err:  # incl. timeouts
            reason = getattr(err, "reason", None) or err
            raise QuestDBConnectionError(f"cannot reach QuestDB at {self.url}: {reason}") from None
        try:
            return dict(json.loads(body.decode("utf-8")))
        except (ValueError, TypeError):
            raise QuestDBError(f"QuestDB at {self.url} sent a non-JSON answer to {sql!r}") from None

    def _http_error(self, err: HTTPError, sql: str) -> QuestDBError:
        if err.code in (401, 403):
            if not self.user:
                return QuestDBAuthError(
                    f"QuestDB at {self.url} requires authentication (HTTP {err.code}): set user and password"
                )
            return QuestDBAuthError(
                f"QuestDB at {self.url} rejected the credentials of user {self.user!r} (HTTP {err.code}):"
                " check user and password"
            )
        try:
            raw = err.read().decode("utf-8", errors="replace")
        except Exception:
            raw = ""
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and "error" in payload:
            return QuestDBQueryError(sql, str(payload["error"]), payload.get("position"))
        return QuestDBError(f"QuestDB at {self.url} answered HTTP {err.code} to {sql!r}: {raw[:200]}")

    def rows(self, sql: str) -> list[dict[str, Any]]:
        """Run a SELECT and return its rows as dicts keyed by column name."""
        answer = self.exec(sql)
        names = [col["name"] for col in answer.get("columns", [])]
        return [dict(zip(names, row)) for row in answer.get("dataset", [])]  # noqa: B905 (py3.9 target)
