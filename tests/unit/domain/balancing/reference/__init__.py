"""The plain formulation of ``allocate()``: every step written the obvious way, kept as the oracle
that the optimised implementation in ``edge_controller.domain`` must match exactly."""
