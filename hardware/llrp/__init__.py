"""LLRP (EPCglobal Low Level Reader Protocol 1.0.1): RFID reader adapter, client and reader simulator.

``adapter``    reader reports -> RFID frames at the ingest gateway, with reconnects
``client``     one connection and the reader conversation (capabilities, ROSpec, reports, keepalives)
``rospec``     the inventory the adapter asks for, as an ROSpec
``codec``      the LLRP header, framing and tag-report parsing (message bodies by pyllrp)
``simulator``  a reader on 127.0.0.1 speaking real LLRP bytes, for tests and demos
"""
