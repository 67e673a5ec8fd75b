"""Serving workers: more processes that serve predictions on the emulator's port.

``pool.py`` (in the control process) starts them and keeps them in step with the store;
``node.py`` is a worker's app; ``main.py`` its process entry point.
"""
