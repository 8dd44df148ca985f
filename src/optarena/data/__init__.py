"""LightningDataModules, one file per dataset family."""
