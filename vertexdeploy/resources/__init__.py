"""The data every layer exchanges: typed addresses, resources and live state, changes and
plans. Plain values with no behaviour beyond their own shape, so the planner, the kinds,
the executor and the backend can all use them without importing each other."""
