"""The audit trail: audited API calls written in batches, read back, pruned by retention."""
