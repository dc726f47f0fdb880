"""Offline tools of the X-ray plugins: build the ``xray-library`` artefact (``build``), fit the model
(``fit``), tune the thresholds (``tune``), evaluate on held-out simulated bags (``evaluate``), and their
commands (``cli``). They may use the simulator (``simulated``); the runtime modules never import them.
"""
