"""The latticenas pipeline's KFP components, one file per step.

Each is a lightweight ``@dsl.component`` on the ``component`` image
(:func:`latticenas.images.image_ref`) whose body imports latticenas and calls library
functions; the image already has latticenas and kfp, so nothing is installed at run time
(``packages_to_install=None``, ``install_kfp_package=False``).
"""

from latticenas.extras import require

require("kfp")  # without the pipeline extra: MissingExtraError naming it, not a bare import error
