"""One module per pipeline stage; each declares `STAGE` and a plain `run(ctx)` function."""
