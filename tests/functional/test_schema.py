"""Separate services never migrate the shared database themselves; `ostia db upgrade` does."""

from __future__ import annotations

import pytest

from ostia import conf as conf_mod
from ostia.cli import bootstrap


def test_services_refuse_an_unmigrated_database_until_db_upgrade(db_url: str, tmp_path: object) -> None:
    conf = conf_mod.load([], {"DEFAULT": {"state_dir": str(tmp_path)}, "database": {"connection": db_url}})
    db = bootstrap.database(conf)
    try:
        with pytest.raises(SystemExit, match="run `ostia db upgrade` first"):
            bootstrap.require_current_schema(db)
        bootstrap.prepare_database(conf, db)
        bootstrap.require_current_schema(db)  # now at head: no error
    finally:
        db.engine.dispose()
