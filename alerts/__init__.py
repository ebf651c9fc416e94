"""Alerting for the operations room: rules evaluated as readings arrive and on a timer,
a lifecycle with who and when, and notifications behind one interface."""
