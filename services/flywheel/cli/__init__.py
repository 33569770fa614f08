"""The `flywheel` command line. Each domain module registers its commands in `register(app, bench)`."""
