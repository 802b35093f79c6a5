"""HTTP handlers of the OCI distribution API: parse, check permission, call one service,
render. They never touch SQL or files."""
