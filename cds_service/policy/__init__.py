"""Medical policies as validated data: schema, loader, and the pure order matcher."""
