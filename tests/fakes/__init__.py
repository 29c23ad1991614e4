"""Test scaffolding: fake backends and servers; never product code."""
