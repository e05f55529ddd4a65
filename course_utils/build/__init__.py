"""Building the course: the authoring format, solutions and student notebooks, and the web site.

``authoring`` parses ``authoring/NN_*.py``; ``notebooks`` builds ``solutions/``, executes them,
releases ``notebooks/`` with nbgrader and checks both are up to date; ``site`` renders the executed
solutions to static HTML. ``python -m course_utils.build --help`` lists the commands.
"""
