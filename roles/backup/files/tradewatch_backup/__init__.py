"""tradewatch-backup: backups of QuestDB and Grafana into a restic repository, and checked restores.

Python 3.9+ standard library only (the program runs on the database hosts, outside any venv). The
role installs the package as one executable zipapp (files/build_zipapp.py); ``python3 -m
tradewatch_backup`` runs it from a checkout.

QuestDB (OSS) is backed up the way its documentation describes for the 9.x line
(operations/backup.md, "QuestDB OSS: manual backups with checkpoints"):

    CHECKPOINT CREATE -> copy the whole server root -> CHECKPOINT RELEASE (always, also on failure)

and restored by putting the root back, touching the ``_restore`` trigger file in the root and
starting QuestDB, which then rolls the copied files back to the checkpoint (the ``.checkpoint``
directory that CHECKPOINT CREATE wrote into the root) and deletes the trigger file.

Grafana's SQLite database is copied with SQLite's online backup API (consistent while Grafana runs).

Both go into one restic repository (Debian's `restic`: encrypted, deduplicated; a local path or SFTP),
one snapshot per run tagged with the component, holding the data and a manifest (row count ranges,
versions); the retention (`restic forget --prune`) follows each backup, `repository check` checks
the repository. Each backup's outcome becomes a row of QuestDB's backup_runs table.

Secrets come only from the configuration file and the repository's password file (mode 0600, root),
never from the command line, and are never printed. Commands:

    tradewatch-backup [--config FILE] questdb backup|restore|verify|list|release
    tradewatch-backup [--config FILE] grafana backup|restore|list
    tradewatch-backup [--config FILE] repository init|check|list

Exit status: 0 success, 1 failure (with a message on stderr), 2 usage error.

Modules: ``cli`` (arguments), ``app`` (dispatch, signals, exit status, outcome), ``config``
(settings), ``restic`` (the repository), ``questdb_http`` (the /exec client), ``questdb_backup`` /
``questdb_restore`` (QuestDB commands), ``grafana`` (Grafana commands), ``sqlite_copy`` (SQLite
online backup and summary), ``manifest``, ``report`` (the outcome row), ``lock``, ``files``
(filesystem primitives), ``systemd``, ``clock``, ``console`` (operator messages), ``errors``.
"""
