"""Typed values from an answer: candidates, JSON scanning and repair, prose labels."""
