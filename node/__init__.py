"""Home node: home model and assets, forecasts, planner, bidding agent."""
