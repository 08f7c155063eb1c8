"""Grading: helpers for the exercises' test cells and the instructor's nbgrader workflow.

- :mod:`course_lib.grading.checks` — checks with teaching messages and independent oracles, used
  inside the test cells of the exercise notebooks.
- :mod:`course_lib.grading.submissions` — collect downloaded notebooks (zip or folder), check
  each one against the release and repair what can be repaired.
- :mod:`course_lib.grading.integrity` — find lines of a submission that change the modules the
  tests use (reported for review by ``check``).
- :mod:`course_lib.grading.pipeline` — release, autograde, feedback and export through
  nbgrader's own API, with working files kept in one grading directory.
- :mod:`course_lib.grading.preprocessors` — nbgrader preprocessors: stderr relabelled and long
  outputs cut after execution (``nbgrader_config.py``), hidden tests taken out of the feedback.
- :mod:`course_lib.grading.execution` — sandboxed execution of submissions, dead kernels, Dask workers.
- :mod:`course_lib.grading.sandbox` — the bubblewrap sandbox of every student kernel.

Command line: ``python -m course_lib.grading --help`` (README.md, "Grading the exercises").
"""
