"""Write SyntheticPeople to disk in the real dataset formats: LSP, LSPET and MPII.

The writers live in `mirrornet.data.synthetic.export` (see its docstring for the file layouts);
this module keeps the import path ``mirrornet.data.synthetic_export``. It depends on the
generator package and the generator package never imports it, so there is no import cycle.
"""

from __future__ import annotations

from mirrornet.data.synthetic.export import EXPORT_FORMATS, MPII_VALID_FRACTION, export_synthetic

__all__ = ["export_synthetic", "EXPORT_FORMATS", "MPII_VALID_FRACTION"]
