# Every task a learner, an instructor or CI runs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JOBS ?= 2
A ?=
ASSIGNMENT_FLAGS := $(if $(A),--assignment $(A),)
# DB_URL=postgresql+psycopg2://grader@dbhost/course: a shared gradebook (see README, "Grading on several machines").
DB_URL ?=
DB_FLAGS := $(if $(DB_URL),--db-url '$(DB_URL)',)
# The venv's programs come first for whatever `make` runs. The course's Python code needs
# none of them on PATH (nbgrader's schema version comes from Alembic's API: grading/course.py).
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help env solutions notebooks check demo site test lint test-fast autograde enqueue grade-worker grade-status feedback report export zip-collect bench bench-grading bench-queue clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

$(STAMP): requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $(STAMP)
	@echo "environment ready in $(VENV) (pinned by requirements-dev.txt)"

env: $(STAMP)  ## create .venv with the pinned packages (only when missing or out of date)

solutions: env  ## authoring/*.py -> solutions/*.ipynb, executed in place (outputs for readers)
	$(PY) -m course_utils.build build $(ASSIGNMENT_FLAGS)
	$(PY) -m course_utils.build execute --in-place $(ASSIGNMENT_FLAGS)

notebooks: env  ## generate the student notebooks in notebooks/ from solutions/ (nbgrader)
	$(PY) -m course_utils.build release $(ASSIGNMENT_FLAGS)

check: env  ## fail if solutions/ or notebooks/ are out of date
	$(PY) -m course_utils.build check

demo: env notebooks  ## main job: student notebooks, execute every solution, grade them as a sample learner
	$(PY) -m course_utils.grading demo --jobs $(JOBS)

site: env  ## static HTML site of the executed solutions in build/site (index + one page per lesson)
	$(PY) -m course_utils.build.site --out build/site

test: env  ## the whole test-suite (the README's test command)
	@set +e; $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure"; exit 1; fi; exit $$rc

lint: env  ## ruff check (package, tests, bench, lesson sources) and ruff format --check (rules in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Limits of each learner kernel (see docs/grading-security.md): memory in GiB, CPU and wall-clock seconds.
MEMORY_GB ?= 4
CPU_SECONDS ?= 600
FILE_SIZE_MB ?= 1024
CELL_TIMEOUT ?= 120
SUBMISSION_TIMEOUT ?= 900
LIMIT_FLAGS := --memory-gb $(MEMORY_GB) --cpu-seconds $(CPU_SECONDS) --file-size-mb $(FILE_SIZE_MB) \
	--cell-timeout $(CELL_TIMEOUT) --submission-timeout $(SUBMISSION_TIMEOUT)

autograde: env  ## grade submitted/<learner>/<assignment>/ (JOBS=N, A=assignment, MEMORY_GB=4, CPU_SECONDS=600, ...)
	$(PY) -m course_utils.grading autograde --jobs $(JOBS) $(LIMIT_FLAGS) $(ASSIGNMENT_FLAGS) $(GRADE_FLAGS) $(DB_FLAGS)

# Several machines, one queue in the shared PostgreSQL gradebook (README, "Grading on several machines").
enqueue: env  ## queue one grading job per submission (A=assignment, or ALL=1; DB_URL=the shared gradebook)
	@test -n "$(A)$(ALL)" || { echo "usage: make enqueue A=<assignment> (or ALL=1) [DB_URL=...]"; exit 2; }
	$(PY) -m course_utils.grading enqueue $(if $(ALL),--all,) $(ASSIGNMENT_FLAGS) $(DB_FLAGS)

grade-worker: env  ## on any number of machines: take jobs from the queue and grade them until none is left (JOBS=N per machine)
	$(PY) -m course_utils.grading grade-worker --jobs $(JOBS) $(LIMIT_FLAGS) $(GRADE_FLAGS) $(DB_FLAGS)

grade-status: env  ## the queue: queued / running (machine, how long) / done / failed, slowest jobs
	$(PY) -m course_utils.grading grade-status $(DB_FLAGS)

feedback: env  ## write feedback/<learner>/<assignment>/*.html (no hidden tests, no expected values)
	$(PY) -m course_utils.grading feedback $(ASSIGNMENT_FLAGS) $(DB_FLAGS)

report: env  ## print the grade table with each submission's status
	$(PY) -m course_utils.grading report $(ASSIGNMENT_FLAGS) $(DB_FLAGS)

export: env  ## grades.csv: nbgrader's export columns plus status, reason (same as `nbgrader export`)
	$(PY) -m course_utils.grading export --csv grades.csv $(ASSIGNMENT_FLAGS) $(DB_FLAGS)

zip-collect: env  ## unpack a Canvas/Moodle zip (downloaded/<A>/archive/*.zip) into submitted/; fails if none matched
	@test -n "$(A)" || { echo "usage: make zip-collect A=<assignment>"; exit 2; }
	$(PY) -m course_utils.grading zip-collect --assignment $(A)

# `make bench PY=python3` uses that interpreter as it is (e.g. a GPU machine's own torch).
BENCH_DEPS := $(if $(filter command line,$(origin PY)),,env)
bench: $(BENCH_DEPS)  ## time the original-notebook MNIST loop against the course trainer (lesson 04)
	$(PY) bench/run.py --device auto $(BENCH_FLAGS)

bench-grading: env  ## lesson 01 submissions autograded per minute, sequential vs parallel (bench/grading.py)
	$(PY) bench/grading.py --n 20 --jobs 1 $(JOBS)

bench-queue: env  ## the grading queue on PostgreSQL: 30 lesson 01 submissions, 1 worker vs 2 (bench/grading_queue.py)
	$(PY) bench/grading_queue.py --n 30 --workers 1 2

clean:  ## remove build products (keeps .venv, submissions and the gradebook)
	rm -rf build .pytest_cache
