"""What both SQL engines share: migrations, rows and times, an import's staging, its export."""
