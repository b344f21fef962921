"""Building the answer (pure): cards, Da Vinci CRD coverage-information actions, client options."""
