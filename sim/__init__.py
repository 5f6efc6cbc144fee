"""Scenarios, virtual clock, in-process wiring of all roles, KPIs, report and plots."""
