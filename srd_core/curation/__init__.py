"""Curation: difficulty metrics -> ranks -> fusion -> selection -> bins."""
