"""What both SQL engines share: the migrations and the mapping of rows to domain values."""
