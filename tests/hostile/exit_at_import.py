"""Hostile: the process exits while the module is imported, before any call."""

import os

os._exit(1)
