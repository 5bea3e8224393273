# Copyright: tradewatch developers
# Apache License 2.0 (see galaxy.yml)
"""Documentation shared by the tradewatch.stack QuestDB modules.

- tradewatch.stack.questdb: the connection options (questdb_common_argument_spec() in
  plugins/module_utils/questdb.py)
- tradewatch.stack.questdb.attributes: check and diff mode, which every module supports the same way
  (ModuleRun in plugins/module_utils/questdb.py)
"""

from __future__ import annotations


class ModuleDocFragment:
    # Keep in sync with questdb_common_argument_spec() in plugins/module_utils/questdb.py.
    DOCUMENTATION = r"""
options:
  url:
    description: Base URL of QuestDB's HTTP server (REST API).
    type: str
    default: http://127.0.0.1:9000
  user:
    description: User for HTTP basic auth (QuestDB's C(http.user)). Omit when the server has no auth.
    type: str
    aliases: [login_user]
  password:
    description: Password for HTTP basic auth (QuestDB's C(http.password)).
    type: str
    aliases: [login_password]
  timeout:
    description:
      - Seconds to wait for each HTTP request, and for QuestDB to apply the pending WAL transactions
        of the table or view (see the module's description for when the module waits).
    type: float
    default: 30
  validate_certs:
    description: Verify the server's TLS certificate when O(url) is https.
    type: bool
    default: true
requirements:
  - A QuestDB 9.x server reachable over HTTP from the target host. No Python library beyond the
    standard library and Ansible's own module_utils.
"""

    ATTRIBUTES = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: Runs no statement that changes anything; returns the statements it would run.
  diff_mode:
    support: full
    description: Returns the state before and after, in the format of RV(state).
"""
