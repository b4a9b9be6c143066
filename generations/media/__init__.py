"""Media files: storage in and out, links to them, clean-up."""
