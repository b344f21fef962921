"""Who the payer is and how a member's Coverage maps to a line of business (data + pure logic)."""
