"""The test suite (a package, so `pytest` finds tests.fake_bot_api without `python -m`)."""
