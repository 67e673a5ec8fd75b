"""Continuous evaluation: ground truth joined with logged predictions, metrics per window and
slice, system objectives, cost, alerts and the HTML report (`feedback`, `monitor`)."""
