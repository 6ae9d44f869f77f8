"""The runner: what runs, where, and the record of it.

- :mod:`~dltour.runner.plan`: run ids and provenance, the plan every run of a study shares, the job
  an executor ships;
- :mod:`~dltour.runner.execute`: one run carried out (lock, reuse or compute) and the driver's
  :class:`~dltour.runner.execute.Recorder`;
- :mod:`~dltour.runner.executors`: local, process pool and Ray;
- :mod:`~dltour.runner.run_folder`: a run's files;
- :mod:`~dltour.runner.ledger`: the SQLite record of every run;
- :mod:`~dltour.runner.driver`: plan, run and summarize studies (what the API and CLI call).
"""
