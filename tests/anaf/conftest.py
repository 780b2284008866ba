"""Fixtures for the ANAF e-Factura tier-1 tests (helpers in anaf_support.py)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from anaf_support import Anaf


@pytest.fixture
def anaf(serve_app):
    return Anaf(serve_app)


@pytest.fixture
def anaf_factory(serve_app):
    return lambda **options: Anaf(serve_app, **options)
