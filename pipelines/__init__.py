"""The retraining pipeline: its definition (built with the sagemaker SDK at build time), the
code its steps run, and the step scripts themselves. See pipelines/README.md."""
