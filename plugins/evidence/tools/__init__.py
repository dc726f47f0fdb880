"""Offline tools of the evidence store: the evaluation on the warehouse simulator."""
