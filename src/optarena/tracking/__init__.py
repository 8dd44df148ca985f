"""Experiment trackers beyond TensorBoard and CSV: MLflow and Weights & Biases, through
Lightning's MLFlowLogger and WandbLogger (conf/logger/mlflow.yaml, wandb.yaml).

extras: is the `tracking` extra installed (checked before anything is written);
mlflow_runs, wandb_runs: one tracker run per run folder (built, continued on resume, retired
when the folder starts over); final: every logger gets the run record's hyperparameters and
final metrics once, when the run ends.
"""
