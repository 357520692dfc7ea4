"""fer_lightning."""
