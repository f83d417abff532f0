"""Tandem's command line and local stack (`tandem serve`, `tandem demo`)."""
