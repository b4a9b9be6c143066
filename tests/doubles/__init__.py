"""Test doubles: stand-ins for outside services, no kinder than the real ones."""
