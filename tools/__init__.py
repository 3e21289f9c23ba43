"""Tools that are not the service: run from a checkout, never imported by backend/."""
