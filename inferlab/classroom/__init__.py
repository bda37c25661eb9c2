"""A class of hundreds: nbgrader's collected submissions graded in parallel on a Dask cluster.

One concept per module:

 config.py      the course's nbgrader configuration, loaded as `nbgrader` loads it
 ledger.py      which submissions are graded, by content hash (rerun grades only what changed)
 gradebook.py   a lab's definitions copied into a private gradebook; a worker's grades written
                into the course gradebook in one transaction (the only writer)
 worker.py      one submission graded in a Dask worker by nbgrader's own Autograde converter
 progress.py    the progress bar and the summary table
 autograde.py   the client: schedule, retry once, write, report (`inferlab autograde`)
 postgres.py    a throw-away PostgreSQL server (the gradebook of a class; tests)
"""
