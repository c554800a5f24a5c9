"""Test ordering for ``make unit``: the few tests that run a whole script in a fresh process (the
notebooks, the examples, the README tour; 26-80 s each in the suite) go first, so that the two
xdist workers spread them and fill the end of the run with the short tests, instead of one
worker finishing a long script alone while the other waits."""

LONG_RUNNING = (
    "tests/test_notebooks.py::test_notebook_runs_to_its_recorded_numbers",
    "tests/test_examples.py::test_example_runs",
    "tests/test_readme.py::test_tour_runs",
)


def pytest_collection_modifyitems(config, items):
    def first(item):  # False sorts before True; sorted() keeps the order within each group
        return not item.nodeid.startswith(LONG_RUNNING)

    items[:] = sorted(items, key=first)
