"""The gateway benchmark's fixtures: five federation v2 subgraphs, their supergraph, the load.

Our gateway, Apollo Gateway and Hive Gateway are measured against the same subgraph
processes, the same composed supergraph file and the same two operations
(``bench.gateway_compare`` runs them side by side).
"""
