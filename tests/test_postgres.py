"""The gradebook on a real PostgreSQL server, started here (Debian's package, installed if missing).

The course's nbgrader_config.py sends nbgrader to the server named by INFERLAB_GRADEBOOK_URL;
`inferlab autograde`'s writer commits one submission per transaction there and rolls back a
failed one. The whole grading path (a class of 30 graded on Dask into this server) runs in
tests/test_classroom.py against the same kind of server.
"""
from __future__ import annotations

import os
import shutil
import sys

import pytest

from conftest import ROOT
from test_classroom import check_writer, start_postgres


@pytest.fixture(scope="module")
def postgres():
    pg, why = start_postgres()
    if pg is None:
        pytest.skip(why)
    yield pg
    pg.stop()


def test_course_config_and_gradebook_on_postgres(postgres, tmp_path, monkeypatch):
    from inferlab.classroom.config import course_directory, load_course_config

    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    monkeypatch.setenv("INFERLAB_GRADEBOOK_URL", postgres.url)
    monkeypatch.setenv("INFERLAB_EXCHANGE", str(tmp_path / "exchange"))
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])  # alembic
    cd = course_directory(load_course_config(course))
    assert cd.db_url == postgres.url and cd.root == str(course)
    check_writer(cd.db_url)
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=postgres.port, user=postgres.user, dbname=postgres.database)
    with conn, conn.cursor() as cur:
        cur.execute("select student_id from submitted_assignment")
        assert [r[0] for r in cur.fetchall()] == ["ada"]  # bob's failed write left nothing
    conn.close()
