"""Local HTTP emulators that speak the real wire formats of the systems Tandem syncs (tests and demo only).

`emulators.common` holds the pieces every emulator shares (threaded server, clock, fault injection,
call counters); one sub-package per system (`emulators.ado`, …) holds the vendor behaviour.
"""
