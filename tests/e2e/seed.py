"""The seed's API user (`api_user:api_pass`, as in Thulium's examples), made by e2e fixtures."""

SEED_USER, SEED_PASSWORD = "api_user", "api_pass"
