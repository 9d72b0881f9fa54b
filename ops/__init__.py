"""Deploying and removing the app: what `make deploy` and `make destroy` run around sam.

Deployer-side tooling only: nothing here is deployed, and it needs boto3 and the standard
library only (never the sagemaker SDK).
"""
