"""What the local machine has, for the runtime to weigh @resources against."""

import os


def cpu_count():
    """The cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def memory_mb():
    """The machine's memory in MB, or None where it can't be told."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (AttributeError, ValueError, OSError):
        return None


def shortfall(step, requested, cores, memory):
    """A one-line warning when ``requested`` (a step's @resources) exceeds ``cores`` or
    ``memory`` (MB; None: unknown), or None."""
    short = []
    if requested.get("cpu") is not None and requested["cpu"] > cores:
        short.append("%s CPUs (the machine has %d)" % (requested["cpu"], cores))
    if requested.get("memory") is not None and memory is not None and requested["memory"] > memory:
        short.append("%s MB of memory (the machine has %d MB)" % (requested["memory"], memory))
    if not short:
        return None
    return ("Warning: step *%s* asks for more than this machine has: %s; it runs locally with "
            "what there is." % (step, " and ".join(short)))
