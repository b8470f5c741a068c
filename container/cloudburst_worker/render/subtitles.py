"""SRT → ASS in the seed's look (placeholder until the full implementation lands)."""
