"""What the machine has, weighed against what a step asks for."""

from metaflow_core.machine import cpu_count, memory_mb, shortfall


def test_the_machine_has_cores_and_memory():
    assert cpu_count() >= 1
    assert memory_mb() is None or memory_mb() > 0


def test_a_step_within_the_machine_gets_no_warning():
    assert shortfall("train", {"cpu": 2, "memory": 4096, "gpu": None}, cores=2, memory=8000) is None


def test_a_step_beyond_the_machine_gets_one_line_naming_it():
    assert shortfall("train", {"cpu": 8, "memory": 4096, "gpu": None}, cores=2, memory=8000) == (
        "Warning: step *train* asks for more than this machine has: 8 CPUs (the machine has 2); "
        "it runs locally with what there is.")
    both = shortfall("train", {"cpu": 8, "memory": 9000}, cores=2, memory=8000)
    assert "8 CPUs (the machine has 2) and 9000 MB of memory (the machine has 8000 MB)" in both
    assert "\n" not in both


def test_memory_is_not_weighed_where_the_machine_cant_tell():
    assert shortfall("train", {"cpu": 1, "memory": 10 ** 9}, cores=2, memory=None) is None
