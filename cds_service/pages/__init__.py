"""HTML pages for people: the policy index, each policy, and its card preview (Jinja templates,
one small stylesheet inlined so a page needs nothing from elsewhere)."""
