"""Maintenance scripts that regenerate data files from reference packages."""
