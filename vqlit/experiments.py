# This file is generated from book/chapters/a4c_tables.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a4c_tables.md: statements
"""The named experiments in one namespace: the registry (vqlit.registry), running and recording
them (vqlit.runs) and their tables (vqlit.tables)."""
from vqlit.evaluation import compare_metrics
from vqlit.registry import (COMPARE_METHODS, COMPARE_SCALES, COMPARE_SEEDS, EXPERIMENTS, GROUPS,
                            OPTVQ_SCALES, OPTVQ_TABLE3_PAPER, OPTVQ_TABLE3_SIZES, SOFT_NOISES,
                            SOFT_RAW_PAPER, SOFT_SCALES, VQ_SCALES, VQWAE_LIVE_SCALES,
                            VQWAE_SCALES, Experiment, Group, get_experiment, get_group, register)
from vqlit.runs import (GroupRun, evaluate_run, expected_cost, measure, prepare_data, record_run,
                        reproduce, reproduce_group, run_group, summarize, train_experiment)
from vqlit.tables import group_table, load_group, results_table


__all__ = []
