"""Yunying 云影 — the patient-facing side of a provincial cloud-imaging platform."""

__version__ = "0.1.0"
