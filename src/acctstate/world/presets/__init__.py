"""Ready-made workflows, one per source product: ``isp`` is the reference workflow."""

__all__: list[str] = []
