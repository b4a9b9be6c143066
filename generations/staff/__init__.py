"""The staff page (a Django view over the services and selectors)."""
