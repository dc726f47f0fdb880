"""Grafana dashboards and Prometheus alerting rules, generated from code.

``bundle.write_bundle`` writes them as provisioning files (``smartcustoms dashboards --out DIR``);
``overview``, ``checkpoints``, ``detection`` and ``risk`` define the dashboards, ``rules`` the alerts.
"""
