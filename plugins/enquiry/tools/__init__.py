"""Offline tools of the enquiry plugin: the evaluation on the gold question sets."""
