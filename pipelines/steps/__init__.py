"""The retraining pipeline's step scripts (see pipelines/README.md).

Each runs as a script in a SageMaker container, beside the others (`python preprocess.py ...`),
and imports its siblings as top-level modules; tests import them from this package.
"""
