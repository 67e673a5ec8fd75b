"""Model Monitoring in the emulator: statistics (stats.py), inputs (data.py), a run
(engine.py), stored results (results.py). See docs/monitoring.md."""
