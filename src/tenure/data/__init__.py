"""The data layer: the canonical contract, readers, validation, loading and the demo company."""
