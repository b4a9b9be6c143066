"""Iterating without paying twice: re-render one scene (``rerender``), cheap previews and their
finalize (``finalize``), seed variations ranked by coherence (``variations``). Each action copies
what it can from an earlier render (``reuse``) and sends only the rest to the model."""
