"""Who is calling: verification of the EHR's JWT (CDS Hooks 2.0 §Trusting CDS Clients)."""
