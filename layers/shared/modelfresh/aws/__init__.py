"""Adapters: the only modules that talk to AWS. They take typed boto3 clients and turn
ClientErrors into domain results or domain errors."""
