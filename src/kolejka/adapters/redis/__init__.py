"""Redis adapters: the live waiting lists, the change feed between instances, the AMI lease."""
