"""One module per dashboard; each exposes ``build(kinds, lang) -> Board``."""
