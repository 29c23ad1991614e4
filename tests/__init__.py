"""Test suite of lemma (a package so that tests can import the fixtures in tests/fakes)."""
