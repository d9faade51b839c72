"""The bundled sample estate, installed as package data."""
