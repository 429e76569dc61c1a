"""The benchmarks of MirrorNet: run each from the repository root as ``python -m benchmarks.<name>``
(``throughput``, ``synthetic_table``, ``lsp_table``, ``mirror_ablation``, ``precision_ab``,
``plot_tables``, ``synthetic_speed``). They follow the rules of ``src/``: files of at most 450
lines, functions of at most 80, imports by package name.
"""
