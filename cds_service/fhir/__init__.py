"""Reading FHIR R4 data from hook requests: plain-dict extractors, R4B validation, prefetch."""
