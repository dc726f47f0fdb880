"""smartcustoms."""
