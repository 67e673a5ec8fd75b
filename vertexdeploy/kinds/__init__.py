"""Resource kinds: one module per kind, collected and checked by ``registry``."""
