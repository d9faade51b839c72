"""servicemap-sync: Service Map dependency maps as SCOM management packs."""
