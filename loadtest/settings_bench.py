"""The server under test in `make bench`: the product's settings plus the baselines app and its URLs."""

from project.settings import *  # noqa: F403  the settings it extends
from project.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "loadtest.baselines"]
ROOT_URLCONF = "loadtest.baselines.urls"
