"""modelfresh: the shared package of the drift-triggered retraining controller.

Deployed as one SAM-built layer with the functions. Handlers stay thin and call into here.
"""
