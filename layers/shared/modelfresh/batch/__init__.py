"""The batch-inference workflow (issue "Batch inference"): which model scores a batch, and what
a batch whose input drifted is allowed to do. Its state machine is still to come; these are
the decisions it will take, each tested on the local cloud's registry."""
