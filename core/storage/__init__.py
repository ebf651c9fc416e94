"""All SQL of Citysense lives in this package; driver records never leave it."""
