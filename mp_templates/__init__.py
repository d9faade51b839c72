"""SCOM management-pack skeletons, installed as package data."""
