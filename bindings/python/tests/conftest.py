import signal

import pytest


@pytest.fixture
def sigint():
    """Ctrl-C raises KeyboardInterrupt here whatever this process inherited: a job
    started with SIGINT ignored (`trap '' INT`) gives Python no handler of its own."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)
