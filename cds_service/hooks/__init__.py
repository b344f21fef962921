"""CDS Hooks 2.0 wire models (request, response, feedback) and the service registry."""
