"""Build-time checks that need the whole repository (template.yaml, samconfig.toml): run by
`make`, never deployed."""
