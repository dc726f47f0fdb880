"""Grafana dashboards and Prometheus alerting rules, generated from code.

``bundle.write_bundle`` writes them as provisioning files (``smartcustoms dashboards --out DIR``);
``overview`` and ``checkpoints`` define the dashboards, ``rules`` the alerts.
"""
